"""`pqdrop init`: a commented starter config that fits this machine, values written by tomli-w so they parse."""

from __future__ import annotations

import contextlib
import os
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w

from pqdrop.config import CONFIG_ENV, inbox_not_a_folder, parse_config
from pqdrop.names import shown

INBOX = "~/PostQued"
STATE = "~/.local/state/pqdrop"


@dataclass(frozen=True)
class Example:
    """A key written commented out, with a value that shows its form (not a default pqdrop assumes)."""

    value: Any


# (section, key, value, comment); an Example writes the key commented out.
STARTER: tuple[tuple[str, str, Any, str], ...] = (
    ("inbox", "path", INBOX, "the watched folder (required); sent/ and failed/ are made inside it"),
    ("inbox", "settle_seconds", 5.0, "quiet time before a file written in place counts as complete"),
    ("inbox", "folder_settle_seconds", 45.0, "a folder item goes this long after its last change"),
    ("inbox", "watch", "auto", "auto | events | poll (poll for NFS/SMB and other network mounts)"),
    ("inbox", "poll_interval", 10.0, "seconds between scans in poll mode"),
    ("inbox", "rescan_seconds", 300.0, "a full rescan this often in every mode, in case an event was lost"),
    ("inbox", "sidecar_wait_seconds", 30.0, "how long a media waits for its .md before it counts as lonely"),
    ("inbox", "require_sidecar", True, "false: post a lonely media with [defaults] once the wait is over"),
    ("inbox", "ignore", ["*.lock"], "extra glob patterns that are never items"),
    ("postqued", "base_url", "https://api.postqued.com", "the API; `pqdrop sandbox` serves a local stand-in"),
    ("postqued", "api", "auto", "v1, v2, or auto: ask the server once and remember it in the journal"),
    ("postqued", "workspace", Example("3f6c0a2e-5b1d-4c7e-9a8f-0e1d2c3b4a59"),
     "v2: the workspace id; left out = the only one the key reaches"),
    ("postqued", "api_key_file", Example("~/.config/pqdrop/api_key"),
     "the key: this file (mode 0600), or POSTQUED_API_KEY, or a systemd credential postqued_api_key"),
    ("postqued", "timeout_seconds", 30.0, "a request with no byte in or out for this long is given up"),
    ("postqued", "request_deadline_seconds", 60.0, "a whole API request, however slowly the answer trickles"),
    ("postqued", "follow_seconds", 120.0, "how long `once` follows a post until the platform confirms it"),
    ("postqued.rate_limits", "upload", 20, "requests per minute, by category (PostQued's documented limits)"),
    ("postqued.rate_limits", "read", 30, ""),
    ("postqued.rate_limits", "publish", 10, ""),
    ("postqued.rate_limits", "delete", 20, ""),
    ("defaults", "account", Example("@yourname"),
     "for sidecars without `account:`: one of the names `pqdrop accounts` lists"),
    ("defaults", "intent", "draft", "draft (to the TikTok inbox) | publish (straight to the profile)"),
    # timezone: filled in from the machine (machine_zone) by starter_text.
    ("defaults", "late_grace_minutes", 15.0, "a dispatchAt up to this far in the past posts at once; older fails"),
    ("state", "dir", STATE, "the journal; never inside the synced inbox"),
)

# Commented out as a whole: notifications are off until a line is taken in. Kept apart from STARTER so
# each way of notifying adds its own lines here; each line taken in, and all of them, parse.
NOTIFY: tuple[str, ...] = (
    "# Tell someone wherever they are (docs/how-to/notifications.md has a recipe for each service): take in",
    "# [notify] and the lines you want, then `pqdrop notify --test` says which notifier reached you.",
    "# [notify]",
    "# urls = [                                     # Apprise URLs, one per service",
    '#     "ntfys://my-pqdrop-topic",                # ntfy: the app, subscribed to this topic',
    '#     "tgram://123456789:AAbbCCdd/987654321",   # Telegram: your bot\'s token / your chat id',
    '#     "discord://WEBHOOK_ID/WEBHOOK_TOKEN",     # Discord: a channel\'s webhook',
    '#     "mailtos://me:app-password@gmail.com",    # e-mail through your provider\'s SMTP',
    "# ]",
    '# on = ["failed", "unconfirmed", "paused", "resumed", "stuck"]  # the default; add "published", "sent", ...',
    '# url = "https://hooks.example.com/pqdrop"        # a JSON POST of each event',
    '# command = "notify-send pqdrop \\"$PQDROP_ITEM: $PQDROP_STATE\\""  # the shell runs it; JSON on stdin',
)


@dataclass(frozen=True)
class MachineZone:
    """The time zone `init` writes and where it was read from (None: none could be told, UTC)."""

    name: str
    source: str | None


def machine_zone(environ: Mapping[str, str], localtime: Path = Path("/etc/localtime"),
                 timezone_file: Path = Path("/etc/timezone")) -> MachineZone:
    """This machine's IANA time zone: $TZ, the link /etc/localtime, then /etc/timezone; else UTC."""
    candidates: list[tuple[str, str]] = []
    if environ.get("TZ"):
        candidates.append((environ["TZ"].removeprefix(":"), "TZ"))
    try:
        link = os.readlink(localtime)
    except OSError:
        pass
    else:
        candidates.append((link, f"{localtime} -> {link}"))
    with contextlib.suppress(OSError):
        candidates.append((timezone_file.read_text(encoding="utf-8", errors="replace").strip(), str(timezone_file)))
    for value, source in candidates:
        name = _zone_name(value)
        if name is not None:
            return MachineZone(name, source)
    return MachineZone("UTC", None)


def _zone_name(value: str) -> str | None:
    """An IANA name from a TZ value or a zoneinfo path (…/zoneinfo/America/Los_Angeles); None for POSIX rules."""
    name = value.split("zoneinfo/", 1)[1] if "zoneinfo/" in value else value
    name = name.removeprefix("posix/").removeprefix("right/")
    if not name or name.startswith("/") or ".." in name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def starter_text(zone: MachineZone) -> str:
    """The whole starter file: a comment above each key, sections in order, [notify] commented out."""
    lines = ["# pqdrop configuration. Every key is optional except [inbox].path and [state].dir.", ""]
    section = None
    for name, key, value, comment in _with_zone(zone):
        if name != section:
            if section is not None:
                lines.append("")
            lines.append(f"[{name}]")
            section = name
        if comment:
            lines.append(f"# {comment}")
        if isinstance(value, Example):
            lines.append("# " + tomli_w.dumps({key: value.value}).rstrip("\n"))
        else:
            lines.append(tomli_w.dumps({key: value}).rstrip("\n"))
    return "\n".join([*lines, "", *NOTIFY]) + "\n"


def _with_zone(zone: MachineZone) -> list[tuple[str, str, Any, str]]:
    where = f"this machine's, from {zone.source}" if zone.source else "this machine's could not be told"
    entry = ("defaults", "timezone", zone.name, f"for a dispatchAt written without an offset ({where})")
    rows = list(STARTER)
    after = next(index for index, row in enumerate(rows) if row[:2] == ("defaults", "intent")) + 1
    return [*rows[:after], entry, *rows[after:]]


def starter_path(cli_path: str | None, environ: Mapping[str, str]) -> Path:
    """Where `init` writes: --config, $PQDROP_CONFIG, else the user's config file.

    Unlike finding a config to read, this never falls back to /etc: run as root, `init` would
    otherwise write the system config when the user meant their own.
    """
    if cli_path:
        return Path(cli_path)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    return Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "pqdrop" / "config.toml"


def write_starter_config(path: Path, environ: Mapping[str, str]) -> int:
    """Write the starter config to `path` (never over an existing file) and make its inbox."""
    zone = machine_zone(environ)
    text = starter_text(zone)
    config = parse_config(tomllib.loads(text), path)  # the starter must itself be a valid config
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(shown(f"pqdrop init: {path} already exists; not overwriting it"))
        return 1
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
    print(shown(f"wrote {path}"))
    if zone.source:
        print(f"time zone: {zone.name} (this machine's, from {zone.source}); change [defaults].timezone to post "
              "by another clock")
    else:
        print("time zone: UTC (this machine's could not be told from TZ, /etc/localtime or /etc/timezone); set "
              '[defaults].timezone to yours, e.g. timezone = "America/Los_Angeles"')
    inbox = config.inbox.path
    try:
        inbox.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file of the user's, or a link, where the folder goes: theirs to move
        print(shown(f"inbox: {inbox_not_a_folder(inbox)}"))
    except OSError as exc:
        print(shown(f"inbox: {inbox} could not be made ({exc.strerror}); make it with: mkdir -p "
                    f"{shlex.quote(str(inbox))}"))
    else:
        print(shown(f"inbox: {inbox} is ready; point your sync tool at it, or change [inbox].path"))
    print("next: put your API key where [postqued] says, then `pqdrop accounts`, `pqdrop check` and `pqdrop run`")
    return 0
