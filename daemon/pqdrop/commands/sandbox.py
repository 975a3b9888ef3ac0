"""`pqdrop sandbox`: the built-in PostQued-compatible server on loopback, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal

SANDBOX_KEY = "pq_sandbox"  # the key `pqdrop sandbox` accepts, as the README says


def serve_sandbox(port: int) -> int:
    from pqdrop.sandbox import Sandbox

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # unwinds serve_forever, which closes the socket

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)  # set explicitly: a shell's background job inherits SIGINT ignored
    sandbox = Sandbox(port=port, api_keys=(SANDBOX_KEY,))
    print(f"PostQued sandbox on {sandbox.url} (API key {SANDBOX_KEY}); Ctrl-C or SIGTERM stops it", flush=True)
    sandbox.serve_forever()
    return 0
