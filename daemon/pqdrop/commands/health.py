"""`pqdrop health`: ask the running daemon whether its loop comes round (a container's HEALTHCHECK).

It asks `[http] listen`'s /healthz and writes nothing, so checking every 30 s never wakes a NAS's disks.
"""

from __future__ import annotations

import sys

from pqdrop.config import Config
from pqdrop.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE


def check_health(config: Config) -> int:
    """0 healthy, 1 unhealthy or not answering, 2 when the config sets no `[http] listen` to ask."""
    address = config.http.address
    if address is None:
        where = config.source or "the config"
        print(f"pqdrop: {where}: [http] listen is not set, so there is no daemon to ask; add\n"
              f'  [http]\n  listen = "127.0.0.1:8787"\nand restart pqdrop run', file=sys.stderr)
        return EXIT_USAGE
    if address[1] == 0:
        print(f"pqdrop: {config.source or 'the config'}: [http] listen = \"{config.http.listen}\" lets the system "
              "pick the port, so there is no knowing where to ask; give it a fixed port (e.g. 8787)", file=sys.stderr)
        return EXIT_USAGE
    from pqdrop.web.probe import ask_health

    healthy, said = ask_health(address)
    print(said)
    return EXIT_OK if healthy else EXIT_FAILED
