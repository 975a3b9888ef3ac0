"""`pqdrop health`'s side of the endpoint: ask a running daemon's /healthz, writing nothing anywhere."""

from __future__ import annotations

import http.client

ASK_TIMEOUT_SECONDS = 5.0  # below a container HEALTHCHECK's usual --timeout
MAX_ANSWER_BYTES = 4096
# A daemon listening on every address is asked on loopback.
LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def ask_health(address: tuple[str, int], timeout: float = ASK_TIMEOUT_SECONDS) -> tuple[bool, str]:
    """(healthy, what /healthz said, or why nothing answered) for the daemon listening at `address`."""
    host, port = address
    host = LOOPBACK.get(host, host)
    url = f"http://[{host}]:{port}/healthz" if ":" in host else f"http://{host}:{port}/healthz"
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", "/healthz")
        reply = connection.getresponse()
        said = reply.read(MAX_ANSWER_BYTES).decode("utf-8", "replace").strip()
    except (OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return False, f"nothing answers at {url}: {reason} (is `pqdrop run` running with this config?)"
    finally:
        connection.close()
    return reply.status == 200, said or f"HTTP {reply.status}"
