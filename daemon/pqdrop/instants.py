"""Instants as text, the one way pqdrop writes and reads them: ISO 8601 in UTC with a Z.

The API, the journal, status files and `pqdrop status --json` all use it; text in this form sorts
as the instants do, so SQL compares them.
"""

from __future__ import annotations

from datetime import UTC, datetime


def iso_z(moment: datetime, *, timespec: str = "seconds") -> str:
    """`moment` in UTC with a trailing Z: 2026-12-01T17:00:00Z."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant as the API or pqdrop wrote it; one without an offset is taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
