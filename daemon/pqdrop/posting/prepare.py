"""An item made ready for the API without talking to it: its sidecar read, its media probed and checked.

The pipeline's first step and `pqdrop check` both go through `prepare_item`, so a check says
exactly what posting would.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath

from pqdrop.config import AccountConfig, DefaultsConfig, ScheduleConfig
from pqdrop.errors import InboxError, KeyInText, MediaError
from pqdrop.inbox.items import Item
from pqdrop.media.probe import MediaInfo, probe
from pqdrop.names import shown
from pqdrop.posting.photos import check_conversions
from pqdrop.posting.preflight import applicable, check_post
from pqdrop.posting.publish import check_media_set
from pqdrop.secrecy import SECRETS
from pqdrop.sidecar.parse import NO_ACCOUNTS, Sidecar, default_sidecar, parse_sidecar
from pqdrop.sidecar.source import SidecarSource


def prepare_item(
    root: Path,
    item: Item,
    defaults: DefaultsConfig,
    now: datetime,
    *,
    accounts: Mapping[str, AccountConfig] = NO_ACCOUNTS,
    schedule: ScheduleConfig | None = None,
    source: SidecarSource | None = None,
    trusted: Path | None = None,
) -> tuple[Sidecar, tuple[MediaInfo, ...]]:
    """Read and check an item's sidecar and media (relative to `root`) without talking to the API.

    Every file is opened below `trusted` (default `root`; the pipeline's is processing/, so its claim folder
    swapped for a link is refused too) without following a link; `source` is the sidecar as already read
    (an edit in scheduled/ is read once, then judged).
    """
    if item.problem:
        raise InboxError(f"{item.name}: {item.problem}")
    if item.sidecar:
        sidecar = parse_sidecar(root / item.sidecar, defaults, now, accounts=accounts, schedule=schedule,
                                root=trusted or root, source=source)
    else:
        sidecar = default_sidecar(defaults, accounts=accounts, schedule=schedule)
    media = tuple(probe_inside(root, rel, trusted) for rel in item.media)
    check_media_set(item.name, media)
    check_post(item.name, media, sidecar)  # TikTok's rules, before any upload (issues 8, 13)
    check_conversions(media)
    refuse_key(sidecar)  # as once refuses it: before any upload, and in check
    return applicable(sidecar, media), media


def refuse_key(sidecar: Sidecar) -> None:
    """KeyInText when the sidecar, or a caption or option the post would send, holds the API key (issue 21).

    Checked before anything is uploaded or kept in the journal: a sidecar that is a stranger's copy of
    the key file, or a caption someone pasted the key into, fails its item with a message that names
    where, and never the key.
    """
    where = sidecar.path.name if sidecar.path is not None else "[defaults].caption"
    leak = SECRETS.where([{"caption": target.caption, **target.options} for target in sidecar.targets])
    if leak is not None:
        field = leak.split(".", 1)[-1]
        raise KeyInText(f"{where}: {field} holds the API key; pqdrop never posts it: take it out")
    if sidecar.text is not None and SECRETS.found_in(sidecar.text):
        raise KeyInText(f"{where}: holds the API key; pqdrop never posts the key nor keeps it: take it out of "
                        f"{where} (and keep the key file outside the inbox, readable by pqdrop alone)")


def probe_inside(root: Path, rel: PurePosixPath, trusted: Path | None = None) -> MediaInfo:
    """Probe a media file opened below `trusted` (default `root`) without following a link: nothing outside the
    inbox is read."""
    path = root / rel
    try:
        return probe(path, trusted or root)
    except MediaError as exc:
        # Name the file as the user dropped it, not by its place in processing/.
        raise MediaError(exc.message.replace(str(path), str(rel)), code=exc.code) from exc


def left_out(item: Item) -> str | None:
    """What the status file and `check` say of the subfolders a bundle folder holds, or None."""
    if not item.subfolders:
        return None
    names = ", ".join(f"{shown(str(path))}/" for path in item.subfolders)
    return (f"{names} inside the folder not posted: a folder item posts the media at its top level only; "
            "the subfolder is filed with the folder, untouched")
