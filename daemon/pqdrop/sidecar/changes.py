"""What an edit of a scheduled item asks for, decided by content (issue 15); no I/O but reading a sidecar.

The folder is the schedule's interface: in `scheduled/NAME.md` a changed `dispatchAt` reschedules
the post, `cancel: true` cancels it, and any other change replaces it. Which one it is comes from
comparing the targets the edited sidecar asks for with the targets PostQued was sent, never from
which file event fired, so touching a file, saving it unchanged or a sync tool rewriting it does nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

from pqdrop.errors import SidecarError
from pqdrop.sidecar.loader import DuplicateKey, SidecarLoader
from pqdrop.sidecar.source import read_sidecar

CANCEL_KEY = "cancel"


class EditKind(StrEnum):
    """What an edit does to a scheduled post."""

    NONE = "unchanged"
    RESCHEDULE = "rescheduled"  # only dispatchAt changed
    CANCEL = "canceled"  # cancel: true
    REPLACE = "replaced"  # caption, options, accounts...: the post is canceled and the edited item published


def edit_kind(published: Sequence[Mapping[str, Any]], wanted: Sequence[Mapping[str, Any]]) -> EditKind:
    """Compare the publish body's targets with the ones the edited sidecar asks for."""
    if _canonical(published) == _canonical(wanted):
        return EditKind.NONE
    if len(published) == len(wanted) and all(
        _canonical(_without_time(old)) == _canonical(_without_time(new))
        for old, new in zip(published, wanted, strict=True)
    ):
        return EditKind.RESCHEDULE
    return EditKind.REPLACE


def replacement_key(base_key: str, old_publish_id: str) -> str:
    """The Idempotency-Key of an edited post: its content-derived key, tied to the publish it replaces.

    Tying it to the old publish keeps an edit back to an earlier version from replaying (within
    PostQued's 24 h) the publish that edit canceled; a twin pqdrop still derives the same key.
    """
    digest = hashlib.sha256(f"{base_key}:{old_publish_id}".encode()).hexdigest()[:48]
    return f"pqdrop-{digest}"


def _frontmatter(text: str) -> dict[str, Any] | None:
    """The frontmatter's mapping as the sidecar parser reads it (a repeated key refused), or None."""
    handler = YAMLHandler()
    text = text.replace("\r\n", "\n").strip()
    if not handler.detect(text):
        return None
    try:
        meta = yaml.load(handler.split(text)[0], Loader=SidecarLoader)  # a SafeLoader, stricter
    except DuplicateKey as exc:
        message = f"{exc.key}: given twice (again on line {exc.line}); keep one"
        raise SidecarError(message, code="SIDECAR_VALUE") from None
    except (ValueError, yaml.YAMLError):
        return None
    return meta if isinstance(meta, dict) else None


def written_times(text: str) -> tuple[str, ...] | None:
    """Every dispatchAt as written (top level, then each entry of `targets:`): what an edit of the time changes."""
    try:
        meta = _frontmatter(text)
    except SidecarError:
        return None
    if meta is None:
        return ()
    listed = meta.get("targets")
    entries: list[Any] = listed if isinstance(listed, list) else []
    return tuple(str(where.get("dispatchAt")) for where in [meta, *entries] if isinstance(where, dict))


def asks_cancel(text: str, name: str) -> bool:
    """Whether a sidecar's text says `cancel: true` at its top level; `cancel:` with anything but true or false,
    or given twice, is refused by name (`cancel:` inside one entry of `targets:` is an unknown key to the parser)."""
    try:
        meta = _frontmatter(text)
    except SidecarError as exc:
        raise SidecarError(f"{name}: {exc.message}", code=exc.code) from None
    if meta is None or CANCEL_KEY not in meta:
        return False
    value = meta[CANCEL_KEY]
    if not isinstance(value, bool):
        raise SidecarError(
            f"{name}: cancel: {value!r} is not true or false; write cancel: true, without quotes, to cancel",
            code="SIDECAR_VALUE",
        )
    return value


def content_digest(path: Path, root: Path | None = None) -> str | None:
    """What a sidecar holds, as a digest (read as source.py reads it); None when it cannot be read."""
    try:
        return read_sidecar(path, root).digest
    except SidecarError:
        return None


def _without_time(target: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in target.items() if key != "dispatchAt"}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
