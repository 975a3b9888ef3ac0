"""The container's config when no config.toml is mounted: /inbox, /state and what PQDROP_* variables set.

PQDROP_DEFAULT_<KEY> sets [defaults].<key> (PQDROP_DEFAULT_ACCOUNT="@mybrand"), and PQDROP_INBOX_<KEY>,
PQDROP_POSTQUED_<KEY>, PQDROP_UPLOAD_<KEY>, PQDROP_NOTIFY_<KEY>, PQDROP_HTTP_<KEY> the keys of those tables; a
list is written comma-separated, except PQDROP_NOTIFY_URLS, space-separated (an Apprise URL may hold a comma:
mailtos://…?to=a,b).
TZ is [defaults].timezone unless PQDROP_DEFAULT_TIMEZONE says otherwise. The file is checked as
`pqdrop` checks any config, and printed as TOML; a mistake exits 2 naming the variable.
Run by the image's entrypoint as /opt/pqdrop/bin/python config_from_env.py > /run/pqdrop/config.toml.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w

from pqdrop.config import Config, parse_config
from pqdrop.errors import EXIT_USAGE, ConfigError

PREFIXES = {"PQDROP_DEFAULT_": "defaults", "PQDROP_INBOX_": "inbox", "PQDROP_POSTQUED_": "postqued",
            "PQDROP_UPLOAD_": "upload", "PQDROP_NOTIFY_": "notify", "PQDROP_HTTP_": "http"}
# The HEALTHCHECK (`pqdrop health`) asks /healthz on loopback; PQDROP_HTTP_LISTEN=0.0.0.0:8787 and a
# published port show the status page on the network.
BASE: dict[str, dict[str, Any]] = {"inbox": {"path": "/inbox"}, "state": {"dir": "/state"},
                                   "http": {"listen": "127.0.0.1:8787"}}
WHERE = Path("/run/pqdrop/config.toml")


def variables(environ: Mapping[str, str]) -> dict[tuple[str, str], str]:
    """(table, key) -> the variable that sets it; an empty variable counts as unset (compose's ${X:-})."""
    found = {}
    for name in sorted(environ):
        for prefix, table in PREFIXES.items():
            if name.startswith(prefix) and name != prefix and environ[name] != "":
                found[(table, name.removeprefix(prefix).lower())] = name
    if environ.get("TZ") and ("defaults", "timezone") not in found:
        found[("defaults", "timezone")] = "TZ"
    return found


def document(environ: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The config's tables: the image's paths, then each variable's value (lists split at commas)."""
    tables = {table: dict(keys) for table, keys in BASE.items()}
    for (table, key), name in variables(environ).items():
        value: Any = environ[name].removeprefix(":") if name == "TZ" else environ[name]
        if (table, key) == ("notify", "urls"):
            value = value.split()
        elif _is_list(table, key):
            value = [part.strip() for part in value.split(",") if part.strip()]
        tables.setdefault(table, {})[key] = value
    return tables


def _is_list(table: str, key: str) -> bool:
    section = Config.model_fields.get(table)
    model = getattr(section, "annotation", None)
    field = getattr(model, "model_fields", {}).get(key)
    return "tuple" in str(getattr(field, "annotation", ""))


def typed(tables: Mapping[str, Mapping[str, Any]], config: Config) -> dict[str, dict[str, Any]]:
    """The same keys with the values as pqdrop read them (0.5, true, lists), for a TOML file a person can read."""
    out: dict[str, dict[str, Any]] = {}
    for table, keys in tables.items():
        section = getattr(config, table)
        for key in keys:
            value = getattr(section, key)
            out.setdefault(table, {})[key] = list(value) if isinstance(value, tuple) else (
                str(value) if isinstance(value, Path) else value)
    return out


def main(environ: Mapping[str, str]) -> int:
    tables = document(environ)
    try:
        config = parse_config(tables, WHERE)
    except ConfigError as exc:
        message = exc.message.removeprefix(f"{WHERE}: ")
        for (table, key), name in variables(environ).items():  # each problem named by the variable that made it
            message = message.replace(f"{table}.{key}: ", f"{name} ([{table}].{key}): ")
        print(f"pqdrop-entrypoint: the settings from the environment are not usable: {message}; set the variables "
              "right, or mount a config file at /config/config.toml", file=sys.stderr)
        return EXIT_USAGE
    sys.stdout.write("# Written by the container's entrypoint from its environment (PQDROP_*, TZ); mount\n"
                     "# /config/config.toml to use a file of your own instead.\n")
    sys.stdout.write(tomli_w.dumps(typed(tables, config)))
    return 0


if __name__ == "__main__":
    sys.exit(main(os.environ))
