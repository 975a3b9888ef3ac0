"""The systemd notify protocol without libsystemd: one datagram to $NOTIFY_SOCKET.

Never raises and does nothing when the variable is unset (sd_notify(3); gunicorn's systemd.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send e.g. "READY=1" or "STATUS=…"; True when a datagram went out."""
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            # Never block: a manager that stopped reading must not stall the loop (EAGAIN is an OSError).
            sock.send(message.encode("utf-8", "replace"), socket.MSG_DONTWAIT)
    except OSError:
        return False
    return True


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Half of WATCHDOG_USEC in seconds, when this process is the one systemd watches."""
    env = environ if environ is not None else os.environ
    usec, pid = env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        microseconds = int(usec)
    except ValueError:
        return None
    # Like sd_watchdog_enabled(3): zero or less is no watchdog, not "ping continuously".
    return microseconds / 2_000_000 if microseconds > 0 else None
