"""`pqdrop sandbox`: the built-in PostQued-compatible server on loopback, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import errno
import signal
import sys
from pathlib import Path

from pqdrop.errors import EXIT_TEMPFAIL, EXIT_USAGE

SANDBOX_KEY = "pq_sandbox"  # the key `pqdrop sandbox` and `pqdrop try` accept, as the docs say


def serve_sandbox(port: int, api: str = "both", state_dir: Path | None = None) -> int:
    """Serve v1, v2 or both until SIGTERM or Ctrl-C; with `state_dir`, keep what it knows there across restarts."""
    from pqdrop.sandbox import Sandbox
    from pqdrop.sandbox.snapshot import STATE_FILE, SnapshotError
    from pqdrop.sandbox.v2 import workspace_id

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # unwinds serve_forever, which closes the socket

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)  # set explicitly: a shell's background job inherits SIGINT ignored
    if state_dir is not None:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"pqdrop sandbox: --state {state_dir}: cannot make the folder: {exc.strerror}; give a folder "
                  "you can write in", file=sys.stderr)
            return EXIT_USAGE
    try:
        sandbox = Sandbox(port=port, api_keys=(SANDBOX_KEY,), api=api, state_dir=state_dir).bind()
    except SnapshotError as exc:
        print(f"pqdrop sandbox: its state {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            print(f"pqdrop sandbox: cannot listen on port {port} of 127.0.0.1: {exc.strerror}; pick another with "
                  "--port N (--port 0 picks a free one)", file=sys.stderr)
            return EXIT_USAGE
        print(f"pqdrop sandbox: port {port} on 127.0.0.1 is already in use (another sandbox?); stop that one, "
              "or pick another with --port N (--port 0 picks a free one)", file=sys.stderr)
        return EXIT_TEMPFAIL
    apis = {"both": "v1 and v2", "v1": "v1 only", "v2": f"v2 only, workspace {workspace_id()}"}[api]
    kept = "state in memory only, forgotten when it stops" if state_dir is None else \
        f"state kept in {state_dir / STATE_FILE}"
    print(f"PostQued sandbox on {sandbox.url} (API key {SANDBOX_KEY}; {apis}; {kept}); Ctrl-C or SIGTERM stops it",
          flush=True)
    sandbox.serve_forever()
    return 0
