"""`pqdrop sandbox`: the built-in PostQued-compatible server on loopback, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import errno
import signal
import sys

from pqdrop.errors import EXIT_TEMPFAIL, EXIT_USAGE

SANDBOX_KEY = "pq_sandbox"  # the key `pqdrop sandbox` accepts, as the README says


def serve_sandbox(port: int, api: str = "both") -> int:
    """Serve v1, v2 or both until SIGTERM or Ctrl-C."""
    from pqdrop.sandbox import Sandbox
    from pqdrop.sandbox.v2 import workspace_id

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # unwinds serve_forever, which closes the socket

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)  # set explicitly: a shell's background job inherits SIGINT ignored
    try:
        sandbox = Sandbox(port=port, api_keys=(SANDBOX_KEY,), api=api).bind()
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            print(f"pqdrop sandbox: cannot listen on port {port} of 127.0.0.1: {exc.strerror}; pick another with "
                  "--port N (--port 0 picks a free one)", file=sys.stderr)
            return EXIT_USAGE
        print(f"pqdrop sandbox: port {port} on 127.0.0.1 is already in use (another sandbox?); stop that one, "
              "or pick another with --port N (--port 0 picks a free one)", file=sys.stderr)
        return EXIT_TEMPFAIL
    apis = {"both": "v1 and v2", "v1": "v1 only", "v2": f"v2 only, workspace {workspace_id()}"}[api]
    print(f"PostQued sandbox on {sandbox.url} (API key {SANDBOX_KEY}; {apis}); Ctrl-C or SIGTERM stops it",
          flush=True)
    sandbox.serve_forever()
    return 0
