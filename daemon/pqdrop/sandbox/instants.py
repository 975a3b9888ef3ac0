"""ISO-8601 instants on the wire, epoch seconds inside the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime


def format_instant(epoch: float) -> str:
    """An epoch time as UTC ISO-8601 with a `Z`; milliseconds only when there are any."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    timespec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_instant(text: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp that carries an offset or `Z`; ValueError otherwise."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an ISO-8601 timestamp") from exc
    if moment.tzinfo is None:
        # A bare local time is ambiguous on a server; PostQued asks for UTC or an explicit offset.
        raise ValueError(f"{text!r} has no UTC offset; add 'Z' or an offset such as '+01:00'")
    return moment.timestamp()
