"""The status page: `pqdrop status --json`'s document as one column of HTML a phone reads well.

Pure: the document, the uploads in flight and the health problems in, a page out. Every text that
came from a file name, a sidecar or the API goes through `_text` (shown on one line, then
`html.escape`d), links only to http(s) URLs; no script at all, so it works without JavaScript and a
name holding `<script>` is just text. The page refreshes itself every REFRESH_SECONDS.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pqdrop.names import shown

REFRESH_SECONDS = 30
NOT_CONFIRMED = "not confirmed yet"  # a scheduled post PostQued has not given times for

STYLE = """
:root { color-scheme: light dark; --muted: #6b6b6b; --line: #8884; --bad: #c62828; --good: #2e7d32; }
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 40rem; margin: 0 auto; padding: 0.75rem 1rem 3rem; }
h1 { font-size: 1.35rem; margin: 0.25rem 0; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 0.4rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 0.95rem; margin: 0.8rem 0 0.2rem; color: var(--muted); }
ul { list-style: none; margin: 0; padding: 0; }
li.row { padding: 0.45rem 0; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
.name { font-weight: 600; display: block; }
.detail, .meta, .empty { color: var(--muted); font-size: 0.92rem; }
.banner { padding: 0.6rem 0.8rem; border-radius: 0.4rem; margin: 0.6rem 0; border: 1px solid var(--bad); }
.ok { color: var(--good); } .bad { color: var(--bad); }
progress { width: 100%; height: 0.8rem; }
a { overflow-wrap: anywhere; }
"""


class Upload(Protocol):
    """An upload in flight (the daemon's `Pulse` keeps them)."""

    @property
    def name(self) -> str: ...
    @property
    def sent(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def percent(self) -> int: ...
    @property
    def bytes_per_second(self) -> float | None: ...
    @property
    def seconds_left(self) -> float | None: ...


def render_page(
    document: Mapping[str, Any], uploads: Sequence[Upload], problems: Sequence[str], now: datetime | None = None
) -> str:
    """The whole page for `document` (as `pqdrop status --json` prints it)."""
    zone = _zone(str(document.get("timezone", "UTC")))
    moment = (now or datetime.now(UTC)).astimezone(zone)
    waiting, in_flight = _list(document, "waiting"), _list(document, "inFlight")
    scheduled, sent, failed = _list(document, "scheduled"), _list(document, "recentlySent"), _list(document, "failed")
    canceled = _list(document, "canceled")
    counts = [f"{len(waiting)} waiting", f"{len(in_flight)} in flight", f"{len(scheduled)} scheduled"]
    if failed:
        counts.append(f"{len(failed)} failed")
    daemon = document.get("daemon") or {}
    running = "running" if daemon.get("running") else "not running"
    health = ('<span class="ok">healthy</span>' if not problems
              else f'<span class="bad">unhealthy: {_text("; ".join(problems))}</span>')
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        f"<title>pqdrop: {_text(', '.join(counts))}</title>",
        f"<style>{STYLE}</style></head><body><main>",
        "<h1>pqdrop</h1>",
        f'<p class="meta" id="daemon">{running} · {health} · as of {moment:%Y-%m-%d %H:%M:%S %Z}</p>',
        f'<p class="meta">inbox {_text(str(document.get("inbox", "")))}</p>',
        *_banners(document, zone),
        _section("waiting", "Waiting", [_row(row["name"], row.get("reason")) for row in waiting]),
        _section("in-flight", "In flight", [_in_flight(row, uploads, zone) for row in in_flight]),
        _scheduled(scheduled, zone),
        _section("sent", "Recently sent", [_sent(row) for row in sent]),
        _section("failed", "Failed", [_row(row["name"], f"{row.get('code', '?')}: {row.get('message', '')}")
                                      for row in failed]),
        _section("canceled", "Canceled", [_row(row["name"], _canceled(row, zone)) for row in canceled]),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _list(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [row for row in document.get(key) or () if isinstance(row, Mapping)]


def _text(value: object) -> str:
    """Any text for the page: one printable line, then escaped (quotes too, so attributes are safe)."""
    return html.escape(shown(str(value)), quote=True)


def _when(text: object, zone: ZoneInfo) -> str:
    """An instant of the document (ISO 8601, UTC) as a person reads it: `2026-11-28 18:30:00 CET`."""
    moment = _local(text, zone)
    return f"{moment:%Y-%m-%d %H:%M:%S %Z}" if moment is not None else str(text)


def _banners(document: Mapping[str, Any], zone: ZoneInfo) -> list[str]:
    banners = []
    paused = document.get("postingPaused")
    if isinstance(paused, Mapping):
        banners.append(f'<p class="banner" id="paused"><strong>Posting paused</strong> since '
                       f'{_text(_when(paused.get("since", ""), zone))}: {_text(paused.get("reason", ""))}</p>')
    problem = (document.get("journal") or {}).get("problem")
    if problem:
        banners.append(f'<p class="banner" id="journal"><strong>Journal</strong>: {_text(problem)}</p>')
    return banners


def _section(ident: str, title: str, rows: Sequence[str], body: str | None = None) -> str:
    inner = body if body is not None else (f"<ul>{''.join(rows)}</ul>" if rows
                                           else '<p class="empty">nothing</p>')
    return f'<section id="{ident}"><h2>{title} <span class="count">({len(rows)})</span></h2>{inner}</section>'


def _row(name: object, *details: object, extra: str = "") -> str:
    said = "".join(f'<span class="detail">{_text(detail)}</span> ' for detail in details if detail)
    return f'<li class="row"><span class="name">{_text(name)}</span>{said}{extra}</li>'


def _in_flight(row: Mapping[str, Any], uploads: Sequence[Upload], zone: ZoneInfo) -> str:
    detail = f"{row.get('step', '?')} since {_when(row.get('since', '?'), zone)}"
    if row.get("lastError"):
        detail += f"; last error: {row['lastError']}"
    # The document pairs an upload (named by its media file, clip.mp4) with its item (clip) through the claim.
    upload = _document_upload(row) or next((upload for upload in uploads if upload.name == row.get("name")), None)
    extra = ""
    if upload is not None:
        pace = f"{upload.percent} % · {upload.sent / 1e6:.1f} of {upload.total / 1e6:.1f} MB"
        if upload.bytes_per_second:
            pace += f" · {upload.bytes_per_second / 1e6:.1f} MB/s"
        if upload.seconds_left is not None:
            pace += f" · {_duration(upload.seconds_left)} left"
        extra = (f'<progress max="100" value="{upload.percent}">{upload.percent} %</progress>'
                 f'<span class="detail upload">uploading {_text(pace)}</span>')
    return _row(row["name"], detail, extra=extra)


@dataclass(frozen=True)
class _Listed:
    """An upload as the document lists it under its item."""

    name: str
    sent: int
    total: int
    percent: int
    bytes_per_second: float | None
    seconds_left: float | None


def _document_upload(row: Mapping[str, Any]) -> Upload | None:
    """The row's own upload, as `pqdrop status --json` gives it (inFlight[].upload), if it has one."""
    upload = row.get("upload")
    if not isinstance(upload, Mapping):
        return None
    rate, left = upload.get("bytesPerSecond"), upload.get("secondsLeft")
    return _Listed(str(row.get("name")), int(upload["sent"]), int(upload["total"]), int(upload["percent"]),
                   None if rate is None else float(rate), None if left is None else float(left))


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def _scheduled(rows: Iterable[Mapping[str, Any]], zone: ZoneInfo) -> str:
    """Scheduled posts grouped by the day (in the configured zone) of their first dispatch time."""
    days: dict[str, list[str]] = {}
    count = 0
    for row in rows:
        count += 1
        moments = [_local(text, zone) for text in row.get("dispatchAtLocal") or ()]
        moments = [moment for moment in moments if moment is not None]
        day = f"{moments[0]:%a %d %b %Y}" if moments else NOT_CONFIRMED
        times = ", ".join(f"{moment:%H:%M}" for moment in moments) or NOT_CONFIRMED
        accounts = ", ".join(str(account) for account in row.get("accounts") or ()) or "?"
        days.setdefault(day, []).append(_row(row["name"], f"{times} · {accounts} · {row.get('state', '')}"))
    body = "".join(f"<h3>{_text(day)}</h3><ul>{''.join(items)}</ul>" for day, items in days.items())
    return _section("scheduled", "Scheduled", ["" for _ in range(count)], body or '<p class="empty">nothing</p>')


def _local(text: object, zone: ZoneInfo) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)).astimezone(zone)
    except ValueError:
        return None


def _canceled(row: Mapping[str, Any], zone: ZoneInfo) -> str:
    said = f"canceled {_when(row['canceledAt'], zone)}" if row.get("canceledAt") else "canceled"
    return f"{said} · publish {row['publishId']}" if row.get("publishId") else said


def _sent(row: Mapping[str, Any]) -> str:
    links = " ".join(f'<a href="{_text(url)}" rel="noreferrer">{_text(url)}</a>'
                     for url in row.get("urls") or () if str(url).startswith(("https://", "http://")))
    said = " · ".join(str(part) for part in (row.get("state"), row.get("publishId") and f"publish {row['publishId']}")
                      if part)
    extra = f'<span class="links">{links}</span>' if links else ""
    return _row(row["name"], said, extra=extra)
