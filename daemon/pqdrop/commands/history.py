"""`pqdrop status --history [NAME]`: status.log told as a story, a line per change, by day in the configured zone.

`story` is pure: the log's records in, lines out. Only reads, like `pqdrop status`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

from pqdrop.config import Config
from pqdrop.inbox.items import STATUS_LOG
from pqdrop.instants import parse_instant
from pqdrop.names import shown
from pqdrop.states import ItemState

STORY_LINES = 60  # without a NAME, the last this many changes; with one, that item's whole story in the tail


def story(records: Iterable[Mapping[str, Any]], zone: ZoneInfo, name: str | None = None,
          limit: int = STORY_LINES) -> list[str]:
    """A heading per local day, then `HH:MM:SS ZONE  NAME  what happened` for each change (of `name` only, if given)."""
    chosen = [record for record in records if name is None or _is(record, name)]
    if name is None:
        chosen = chosen[-limit:]
    lines: list[str] = []
    day = None
    for record in chosen:
        try:
            moment = parse_instant(str(record.get("time"))).astimezone(zone)
        except ValueError:
            continue  # a line edited by hand
        if moment.date() != day:
            day = moment.date()
            lines += [*([""] if lines else []), f"{moment:%A %d %B %Y}"]
        lines.append(shown(f"  {moment:%H:%M:%S %Z}  {record.get('item', '?')}  {happened(record, zone)}"))
    return lines


def happened(record: Mapping[str, Any], zone: ZoneInfo) -> str:
    """One change of state in words: what happened and, where the log says, why, the post and its links."""
    state = str(record.get("state", "?"))
    error = record.get("error") if isinstance(record.get("error"), Mapping) else None
    targets = [t for t in record.get("targets", []) if isinstance(t, Mapping)] if isinstance(
        record.get("targets"), list) else []
    publish = f" (publish {record['publishId']})" if record.get("publishId") else ""
    words: dict[str, str] = {
        ItemState.UPLOADING: str(ItemState.UPLOADING),
        ItemState.PUBLISHING: str(ItemState.PUBLISHING),
        ItemState.FOLLOWING: f"accepted by PostQued{publish}; waiting for the platform to confirm",
        ItemState.ACCEPTED: f"accepted{publish}; the platform had not confirmed it yet",
        ItemState.SENT: f"sent to the TikTok inbox as a draft{publish}",
        ItemState.PUBLISHED: f"published{publish}",
        ItemState.CANCELED: f"canceled{publish}",
    }
    if record.get("edit") == "not applied":  # an edit of a scheduled post that did not apply: the post stands
        text = str(record.get("message") or f"an edit was not applied: {record.get('reason') or 'no reason given'}")
    elif state == ItemState.WAITING:
        text = f"waits: {record.get('reason') or 'no reason given'}"
    elif state == ItemState.FAILED:
        text = f"failed: {(error or {}).get('message') or record.get('reason') or 'no reason given'}"
    elif state == ItemState.UNCONFIRMED:
        text = f"unconfirmed{publish}: {record.get('reason') or 'not confirmed by the platform'}; still checked"
    elif state == "scheduled":
        moments = sorted({str(t["dispatchAt"]) for t in targets if t.get("dispatchAt")})
        text = f"scheduled for {', '.join(_local(moment, zone) for moment in moments) or '?'}{publish}"
    elif state in ("rescheduled", "replaced"):
        text = _edited(state, record, zone) + publish
    else:
        text = words.get(state, f"{state}{publish}")
    if state == "canceled" and isinstance(record.get("targets"), str):
        text += f": the targets still waiting ({record['targets']})"
    urls = [str(t["url"]) for t in targets if t.get("url")]
    if urls:
        text += " " + " ".join(urls)
    if record.get("note"):
        text += f"; {record['note']}"
    return text


def print_history(config: Config, name: str | None) -> int:
    """The story of the inbox (or of one item); 1 when the log has nothing of it."""
    from pqdrop.commands.status import LOG_TAIL_BYTES, read_log_tail

    path = config.inbox.path / STATUS_LOG
    lines = story(read_log_tail(path, LOG_TAIL_BYTES * 4), config.defaults.zone, name or None)
    if not lines:
        about = f" of {name}" if name else ""
        print(shown(f"{path} has no history{about} yet" + (
            "; the name is the item's, as `pqdrop status` shows it (clip for clip.mp4 with clip.md)" if name else "")))
        return 1
    print("\n".join(lines))
    return 0


def _is(record: Mapping[str, Any], name: str) -> bool:
    """The item `name` names: as the log writes it ("clip"), or by one of its files ("clip.mp4")."""
    item = str(record.get("item", ""))
    return name in (item, shown(item)) or PurePosixPath(name).stem == item


def _edited(state: str, record: Mapping[str, Any], zone: ZoneInfo) -> str:
    """An edit in words: what changed and the time it goes; "from X to X" only when the time moved."""
    before, after = (_moments(record.get(key), zone) for key in ("from", "to"))
    changed = record.get("changed")
    what = f" ({', '.join(map(str, changed))} changed)" if isinstance(changed, list) and changed else ""
    if before == after:  # the time stayed: what changed is the news
        return f"{state}{what}; it goes now" if after == "now" else f"{state}{what}; it still goes {after}"
    if after == "now":
        return f"{state}{what}: it goes now, no longer {before}"
    return f"{state}{what} from {before} to {after}"


def _moments(values: object, zone: ZoneInfo) -> str:
    if not isinstance(values, Sequence) or isinstance(values, str):
        return "?"
    return ", ".join(_local(str(value), zone) if value else "now" for value in dict.fromkeys(values)) or "now"


def _local(instant: str, zone: ZoneInfo) -> str:
    try:
        moment: datetime = parse_instant(instant)
    except ValueError:
        return instant
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"
