"""`pqdrop init`: a commented starter config, values written by tomli-w so they always parse."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from pqdrop.config import CONFIG_ENV, parse_config

# (section, key, value, comment); None as a value writes the key commented out.
STARTER: tuple[tuple[str, str, Any, str], ...] = (
    ("inbox", "path", "~/PostQued", "the watched folder (required); sent/ and failed/ are made inside it"),
    ("inbox", "settle_seconds", 5.0, "quiet time before a file written in place counts as complete"),
    ("inbox", "watch", "auto", "auto | events | poll (poll for NFS/SMB and other network mounts)"),
    ("inbox", "poll_interval", 10.0, "seconds between scans in poll mode"),
    ("inbox", "rescan_seconds", 300.0, "a full rescan this often in every mode, in case an event was lost"),
    ("inbox", "sidecar_wait_seconds", 30.0, "how long a media waits for its .md before it counts as lonely"),
    ("inbox", "require_sidecar", True, "false: post a lonely media with [defaults] once the wait is over"),
    ("inbox", "ignore", ["*.lock"], "extra glob patterns that are never items"),
    ("postqued", "base_url", "https://api.postqued.com", "the API; `pqdrop sandbox` serves a local stand-in"),
    ("postqued", "api", "auto", "v1, v2, or auto: ask the server once and remember it in the journal"),
    ("postqued", "workspace", None, "v2: the workspace id; left out = the only one the key reaches"),
    ("postqued", "api_key_file", None, "or set POSTQUED_API_KEY, or a systemd credential postqued_api_key"),
    ("postqued", "timeout_seconds", 30.0, "per request"),
    ("postqued", "follow_seconds", 120.0, "how long `once` follows a post until the platform confirms it"),
    ("postqued.rate_limits", "upload", 20, "requests per minute, by category (PostQued's documented limits)"),
    ("postqued.rate_limits", "read", 30, ""),
    ("postqued.rate_limits", "publish", 10, ""),
    ("postqued.rate_limits", "delete", 20, ""),
    ("defaults", "account", "@mybrand", "for sidecars without `account:`; see `pqdrop accounts`"),
    ("defaults", "intent", "draft", "draft (to the TikTok inbox) | publish (straight to the profile)"),
    ("defaults", "timezone", "Europe/Berlin", "for a dispatchAt written without an offset"),
    ("defaults", "late_grace_minutes", 15.0, "a dispatchAt up to this far in the past posts at once; older fails"),
    ("state", "dir", "~/.local/state/pqdrop", "the journal; never inside the synced inbox"),
)


def starter_text() -> str:
    """The whole starter file: a comment above each key, sections in order."""
    lines = ["# pqdrop configuration. Every key is optional except [inbox].path and [state].dir.", ""]
    section = None
    for name, key, value, comment in STARTER:
        if name != section:
            if section is not None:
                lines.append("")
            lines.append(f"[{name}]")
            section = name
        if comment:
            lines.append(f"# {comment}")
        if value is None:
            lines.append(f'# {key} = "/etc/pqdrop/api_key"')
        else:
            lines.append(tomli_w.dumps({key: value}).rstrip("\n"))
    return "\n".join(lines) + "\n"


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


def write_starter_config(path: Path) -> int:
    """Write the starter config to `path`; never overwrites an existing file."""
    text = starter_text()
    parse_config(tomllib.loads(text), path)  # the starter must itself be a valid config
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        print(f"pqdrop init: {path} already exists; not overwriting it")
        return 1
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
    print(f"wrote {path}; set [inbox].path and the API key, then run `pqdrop check` and `pqdrop once`")
    return 0
