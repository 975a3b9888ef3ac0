"""The configuration file: TOML read into typed, immutable, defaulted models.

Nothing else reads settings; the loaded `Config` is passed explicitly.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shlex
import stat
import tomllib
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from pqdrop.errors import ConfigError
from pqdrop.platforms import PLATFORMS
from pqdrop.platforms import option_problem as platform_option_problem
from pqdrop.platforms import platform as platform_table
from pqdrop.platforms.tiktok import DAILY_DRAFTS, DAILY_POSTS, OPTION_TYPES, option_problem
from pqdrop.suggest import choice_problem, nearest

log = logging.getLogger("pqdrop")
_warned: set[str] = set()

API_KEY_ENV = "POSTQUED_API_KEY"
CONFIG_ENV = "PQDROP_CONFIG"
CREDENTIAL_NAME = "postqued_api_key"
DEFAULT_BASE_URL = "https://api.postqued.com"

# The inbox's own folders, which pqdrop moves items into (folders/): what [inbox].filing_links may name.
FILING_FOLDERS: tuple[str, ...] = ("sent", "failed", "scheduled", "canceled", "processing")
DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SLOT_TIME = re.compile(r"(\d{1,2}):(\d{2})")


# --- an upload bandwidth cap, as people write it -------------------------------------------------

UNITS = {
    "B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
    "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3,
    "bit": 1 / 8, "kbit": 1000 / 8, "Kbit": 1000 / 8, "Mbit": 1000**2 / 8, "Gbit": 1000**3 / 8,
}  # fmt: skip
RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)/s\s*")


def parse_rate(value: str | float | int) -> float:
    """Bytes per second from "40 Mbit/s", "5 MB/s", "512 KiB/s" or a plain number; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError("a rate is a number or a string such as \"40 Mbit/s\", not true/false")
    if isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a rate; write a finite number of bytes per second, a string such as "
                             "\"40 Mbit/s\", or 0 for no cap")
    elif not isinstance(value, str):
        raise ValueError(f"{value!r} is not a rate; write a string such as \"40 Mbit/s\" or \"5 MB/s\", "
                         "or bytes per second as a number (0 = no cap)")
    else:
        found = RATE.fullmatch(value)
        if found is None or found.group(2) not in UNITS:
            if value.strip().replace(".", "", 1).isdigit():
                return float(value)
            units = ", ".join(UNITS)
            raise ValueError(f"{value!r} is not a rate; write \"40 Mbit/s\", \"5 MB/s\", \"512 KiB/s\" "
                             f"(units {units}, case matters: B is bytes, bit is bits) or bytes per second as a number")
        number = float(found.group(1)) * UNITS[found.group(2)]
    if number < 0:
        raise ValueError(f"{value!r}: a rate cannot be negative; 0 means no cap")
    return number


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InboxConfig(_Section):
    path: Path
    settle_seconds: float = Field(5.0, ge=0)
    # A folder item (a carousel) goes only after nothing in it changed this long: its files may be copied by
    # hand one at a time with pauses of up to 30 s between them (CONTRACT, issue 22).
    folder_settle_seconds: float = Field(45.0, ge=0)
    watch: Literal["auto", "events", "poll"] = "auto"
    poll_interval: float = Field(10.0, gt=0)
    rescan_seconds: float = Field(300.0, gt=0)
    sidecar_wait_seconds: float = Field(30.0, ge=0)
    require_sidecar: bool = True
    ignore: tuple[str, ...] = ()
    # An item still arriving this long is reported as "stuck arriving" (STATUS, pqdrop status); never touched.
    stuck_arriving_hours: float = Field(24.0, gt=0)
    # Filing folders that may be symlinks, each to the one place named (issue 21): any other link is never
    # followed, so a stranger's `sent -> /elsewhere` cannot move the user's files out of the synced inbox.
    filing_links: dict[str, Path] = {}

    @field_validator("filing_links")
    @classmethod
    def _filing_folders(cls, value: dict[str, Path]) -> dict[str, Path]:
        for name, place in value.items():
            if name not in FILING_FOLDERS:
                raise ValueError(f"{name!r} is not a filing folder; name one of {', '.join(FILING_FOLDERS)}")
            if not place.expanduser().is_absolute():
                raise ValueError(f"{name}: {str(place)!r} is not an absolute path; write where the link leads, "
                                 'e.g. sent = "/mnt/archive/pqdrop-sent"')
        return {name: place.expanduser() for name, place in value.items()}


class RateLimits(_Section):
    upload: int = Field(20, gt=0)
    read: int = Field(30, gt=0)
    publish: int = Field(10, gt=0)
    delete: int = Field(20, gt=0)
    # PostQued counts per minute; tests shrink the window to seconds.
    window_seconds: float = Field(60.0, gt=0)


class PostquedConfig(_Section):
    base_url: str = DEFAULT_BASE_URL
    api: Literal["auto", "v1", "v2"] = "auto"  # auto: ask the server once, remember it in the journal
    workspace: str | None = None  # v2: the workspace id (or name); absent = the only one the key reaches
    api_key_file: Path | None = None
    timeout_seconds: float = Field(30.0, gt=0)  # no byte in or out for this long ends a request
    request_deadline_seconds: float = Field(60.0, gt=0)  # a whole API request, however the bytes trickle
    follow_seconds: float = Field(120.0, ge=0)
    workers: int = Field(3, ge=1, le=16)
    rate_limits: RateLimits = RateLimits()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'") from exc
    return value


def _slot_times(values: tuple[str, ...]) -> tuple[str, ...]:
    """Times of day as HH:MM, sorted, each once."""
    times = set()
    for value in values:
        match = _SLOT_TIME.fullmatch(value.strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError(f"{value!r} is not a time of day; write HH:MM on a 24-hour clock, e.g. '18:30'")
        times.add(f"{int(match[1]):02d}:{match[2]}")
    return tuple(sorted(times))


def _day_names(values: tuple[str, ...]) -> tuple[str, ...]:
    """Weekdays as mon..sun, in week order; full names in any case are fine."""
    days = set()
    for value in values:
        word = value.strip().lower()
        if word in _FULL_DAY_NAMES:
            word = DAY_NAMES[_FULL_DAY_NAMES.index(word)]
        if word not in DAY_NAMES:
            raise ValueError(f"{value!r} is not a day; use {', '.join(DAY_NAMES)}")
        days.add(word)
    return tuple(day for day in DAY_NAMES if day in days)


ZoneName = Annotated[str, AfterValidator(_known_zone)]
SlotTimes = Annotated[tuple[str, ...], AfterValidator(_slot_times)]
DayNames = Annotated[tuple[str, ...], AfterValidator(_day_names)]


class DefaultsConfig(_Section):
    account: str | None = None
    intent: Literal["draft", "publish"] = "draft"
    caption: str = ""  # for a media without a sidecar ([inbox].require_sidecar = false); v2 needs one
    platform: str = "tiktok"
    timezone: ZoneName = "UTC"
    late_grace_minutes: float = Field(15.0, ge=0)

    @field_validator("platform")
    @classmethod
    def _known_platform(cls, value: str) -> str:
        problem = choice_problem(value, PLATFORMS)
        if problem:
            raise ValueError(f"{problem}; [defaults].platform is for sidecars that leave platform out")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def slot_times(slots: tuple[str, ...]) -> tuple[time, ...]:
    """Validated HH:MM texts as times of day."""
    return tuple(time(int(slot[:2]), int(slot[3:])) for slot in slots)


class ScheduleConfig(_Section):
    """Posting slots: the times of day a `dispatchAt: next` item may take (issue 8)."""

    slots: SlotTimes = ()  # "HH:MM", wall-clock time in [defaults].timezone (or the account's)
    days: DayNames = ()  # mon..sun; empty means every day
    auto: bool = False  # a sidecar without dispatchAt takes the next slot too


class AccountConfig(BaseModel):
    """`[accounts."@name"]`: what every target for that account gets unless its sidecar says otherwise.

    Besides the keys below it takes TikTok options by their sidecar names (privacyLevel, disableDuet,
    ...), and a table per other platform of that platform's options (`[accounts."@name".youtube]`
    visibility = "unlisted"), checked by `parse_config` with the sidecar's own rules.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    intent: Literal["draft", "publish"] | None = None
    timezone: ZoneName | None = None
    caption_suffix: str = ""  # appended to every caption; TikTok's caption limit applies to the result
    slots: SlotTimes | None = None  # replaces [schedule].slots for this account
    days: DayNames | None = None  # replaces [schedule].days for this account
    # TikTok's caps per rolling 24 h (issue 13): beyond them a post waits for the window, never fails.
    daily_posts: int = Field(DAILY_POSTS, ge=1)  # direct posts (intent publish)
    daily_drafts: int = Field(DAILY_DRAFTS, ge=1)  # drafts pending in the TikTok inbox (intent draft)

    @property
    def zone(self) -> ZoneInfo | None:
        return None if self.timezone is None else ZoneInfo(self.timezone)

    @property
    def options(self) -> dict[str, object]:
        """The TikTok options given for this account (flat, or in a `tiktok` table)."""
        extra = dict(self.model_extra or {})
        flat = {key: value for key, value in extra.items() if key not in PLATFORMS}
        nested = extra.get("tiktok")
        return {**flat, **(nested if isinstance(nested, dict) else {})}

    def platform_options(self, platform: str) -> dict[str, object]:
        """The options this account's table gives targets of `platform`."""
        if platform == "tiktok":
            return self.options
        table = (self.model_extra or {}).get(platform)
        return dict(table) if isinstance(table, dict) else {}


NO_ACCOUNT_CONFIG = AccountConfig()


def fold_account(name: str) -> str:
    """An account name as pqdrop compares it: "@MyBrand", "mybrand" and "@mybrand" are one account."""
    return name.lstrip("@").casefold()


def account_config(accounts: Mapping[str, AccountConfig], account: str) -> AccountConfig:
    """The table for an account as a sidecar writes it, whichever way it is spelled (`fold_account`)."""
    if account in accounts:
        return accounts[account]
    folded = fold_account(account)
    for name, settings in accounts.items():
        if fold_account(name) == folded:
            return settings
    return NO_ACCOUNT_CONFIG


class UploadConfig(_Section):
    """`[upload]`: how uploads use the link (issue 16)."""

    # Bytes per second for all uploads of the process together; 0 = as fast as the link allows.
    max_rate: Annotated[float, BeforeValidator(parse_rate)] = 0.0


class StateConfig(_Section):
    dir: Path


# What `[notify].on` may name (CONTRACT.md); "accepted" is kept for configs written before "unconfirmed".
NotifyEvent = Literal["failed", "unconfirmed", "paused", "resumed", "stuck", "published", "sent", "scheduled",
                      "canceled", "paced", "accepted"]
# What needs a person: an item that did not go out, a post not confirmed, posting stopped (and going again).
DEFAULT_NOTIFY_ON: tuple[NotifyEvent, ...] = ("failed", "unconfirmed", "paused", "resumed", "stuck")


class NotifyConfig(_Section):
    """`[notify]`: who hears of what (issue 23): Apprise URLs, a command, a JSON POST."""

    urls: tuple[str, ...] = ()  # Apprise URLs: ntfys://topic, tgram://token/chat, discord://..., mailtos://...
    command: str | None = None  # run by the shell with the event as JSON on stdin and PQDROP_* variables
    url: str | None = None  # receives the event as a JSON POST
    on: tuple[NotifyEvent, ...] = DEFAULT_NOTIFY_ON
    timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("urls")
    @classmethod
    def _apprise_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://\S", url):
                raise ValueError(f"{url!r} is not an Apprise URL; write one as SERVICE://..., e.g. "
                                 "\"ntfys://my-topic\" or \"tgram://BOT_TOKEN/CHAT_ID\" (docs/how-to/notifications.md)")
        return value

    @property
    def configured(self) -> bool:
        """Whether any notifier is set."""
        return bool(self.urls or self.command or self.url)


def listen_address(text: str) -> tuple[str, int]:
    """`[http] listen` as a host and a port: "127.0.0.1:8787", "[::1]:8787", "0.0.0.0:8787"; port 0 picks one."""
    host, colon, port = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]  # an IPv6 address, written as in a URL
    if not colon or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{text!r} is not HOST:PORT; write e.g. \"127.0.0.1:8787\" (loopback only) "
                         "or \"[::1]:8787\"")
    return host, int(port)


class HttpConfig(_Section):
    """`[http]`: the health, metrics and status endpoint (issue 23); off unless `listen` is set."""

    listen: str | None = None  # "HOST:PORT"; nothing is bound without it

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            listen_address(value)
        return value

    @property
    def address(self) -> tuple[str, int] | None:
        """Where to listen, or None when the endpoint is off."""
        return listen_address(self.listen) if self.listen else None


class Config(_Section):
    inbox: InboxConfig
    postqued: PostquedConfig = PostquedConfig()
    defaults: DefaultsConfig = DefaultsConfig()
    accounts: dict[str, AccountConfig] = {}
    schedule: ScheduleConfig = ScheduleConfig()
    upload: UploadConfig = UploadConfig()
    notify: NotifyConfig = NotifyConfig()
    http: HttpConfig = HttpConfig()
    state: StateConfig
    source: Path | None = None


def config_changes(before: Config, after: Config) -> list[str]:
    """The keys a reload changed, as the file names them ("[notify].urls"); never their values (a URL holds a token)."""
    return _changed(before.model_dump(exclude={"source"}), after.model_dump(exclude={"source"}), ())


def _changed(before: Any, after: Any, path: tuple[str, ...]) -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict) and (len(path) < 2 or path[0] != "accounts"):
        return [key for name in sorted(set(before) | set(after), key=str)
                for key in _changed(before.get(name), after.get(name), (*path, str(name)))]
    if before == after:
        return []
    if len(path) < 2 or path[0] == "accounts":  # an account's table as a whole: [accounts."@mybrand"]
        return [f"[{'.'.join(_toml_key(part) for part in path)}]"]
    table = ".".join(_toml_key(part) for part in path[:-1])
    return [f"[{table}].{_toml_key(path[-1])}"]


def find_config_path(cli_path: str | None, environ: Mapping[str, str]) -> Path:
    """Where the config lives: --config, $PQDROP_CONFIG, the user's, then the system's."""
    if cli_path:
        return Path(cli_path)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    user = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "pqdrop" / "config.toml"
    if user.exists():
        return user
    return Path("/etc/pqdrop/config.toml")


def load_config(path: Path) -> Config:
    """Read and check the config file; a problem names the file, the key and what is expected."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file; write one with `pqdrop init`") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file in UTF-8 (byte {exc.start} cannot be read); a config is TOML text, "
            "saved as UTF-8"
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_config(raw, path)


def parse_config(raw: Mapping[str, Any], path: Path) -> Config:
    """Validate a parsed TOML document; relative paths are taken from the config's folder."""
    try:
        config = Config.model_validate({**raw, "source": path})
    except ValidationError as exc:
        raise ConfigError(f"{path}: {describe_validation_error(exc)}") from exc
    base = path.parent
    inbox = config.inbox.model_copy(update={"path": _absolute(config.inbox.path, base)})
    state = config.state.model_copy(update={"dir": _absolute(config.state.dir, base)})
    if state.dir == inbox.path or inbox.path in state.dir.parents:
        raise ConfigError(
            f"{path}: [state].dir {state.dir} is inside [inbox].path; the journal must live "
            "outside the synced folder (for example /var/lib/pqdrop)"
        )
    _check_accounts(config, path)
    postqued = config.postqued
    if postqued.api_key_file is not None:
        postqued = postqued.model_copy(update={"api_key_file": _absolute(postqued.api_key_file, base)})
    return config.model_copy(update={"inbox": inbox, "state": state, "postqued": postqued})


def _check_accounts(config: Config, path: Path) -> None:
    """Per-account TikTok options by the sidecar's rules; `[schedule] auto` needs slots to take."""
    for name, settings in config.accounts.items():
        for key, value in settings.options.items():
            where = f"{path}: accounts.{_toml_key(name)}.{key}"
            if key not in OPTION_TYPES:
                near = nearest(key, [*OPTION_TYPES, *AccountConfig.model_fields, *PLATFORMS])
                raise ConfigError(f"{where}: unknown key" + (f"; did you mean {near}?" if near else ""))
            problem = option_problem(key, value)
            if problem:
                raise ConfigError(f"{where}: {problem}")
        for platform in PLATFORMS[1:]:
            table = (settings.model_extra or {}).get(platform)
            if table is None:
                continue
            where = f"{path}: accounts.{_toml_key(name)}.{platform}"
            if not isinstance(table, dict):
                example = f'[accounts."{name}".{platform}]'
                raise ConfigError(f"{where}: must be a table of {platform} options, e.g. {example}")
            for key, value in table.items():
                problem = platform_option_problem(platform_table(platform), key, value)
                if problem:
                    raise ConfigError(f"{where}.{key}: {problem}")
    if config.schedule.auto and not config.schedule.slots:
        without = [name for name, settings in config.accounts.items() if not settings.slots]
        if not config.accounts or without:
            raise ConfigError(
                f'{path}: schedule.auto: true needs posting slots to take; set slots = ["09:00", "18:30"] in '
                "[schedule] (or in every [accounts] table)"
            )


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: the dotted key, what is wrong, and the value given."""
    lines = []
    for problem in exc.errors():
        key = ".".join(_toml_key(str(part)) for part in problem["loc"])
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            near = nearest(str(problem["loc"][-1]), _keys_beside(problem["loc"]))
            message = "unknown key" + (f"; did you mean {near}?" if near else "")
        elif problem["type"] == "missing":
            message = "required key is missing"
            if _is_table(problem["loc"]):
                message = f"the [{key}] table is missing; add it (config.example.toml shows each table)"
        elif problem["type"] == "value_error":
            message = str(problem.get("ctx", {}).get("error", message))
        else:
            expected = str(problem.get("ctx", {}).get("expected", ""))
            message = _kind_advice(problem["type"], problem["loc"], problem.get("input"), expected) or message
        lines.append(f"{key}: {message}")
    return "; ".join(lines)


def _kind_advice(kind: str, loc: tuple[int | str, ...], given: object, expected: str) -> str | None:
    """A value of the wrong kind, said in TOML's words with the line to write; None for other problems."""
    name = next((str(part) for part in reversed(loc) if isinstance(part, str)), "key")
    shown = json.dumps(given, ensure_ascii=False, default=str)
    advice = {
        "path_type": f"{shown} is not a path; write it in quotes, e.g. {name} = \"/srv/pqdrop/{loc[0]}\"",
        "float_parsing": f"{shown} is not a number; write e.g. {name} = 5",
        "float_type": f"{shown} is not a number; write e.g. {name} = 5",
        "int_parsing": f"{shown} is not a whole number; write e.g. {name} = 2",
        "int_type": f"{shown} is not a whole number; write e.g. {name} = 2",
        "int_from_float": f"{shown} is not a whole number; write e.g. {name} = 2",
        "bool_parsing": f"{shown} is not true or false; write {name} = true or {name} = false",
        "bool_type": f"{shown} is not true or false; write {name} = true or {name} = false",
        "string_type": f"{shown} is not text; put it in quotes: {name} = \"{given}\"",
        "list_type": f"{shown} is not a list; write it in brackets: {name} = [{shown}]",
        "tuple_type": f"{shown} is not a list; write it in brackets: {name} = [{shown}]",
        "dict_type": f"{shown} is not a table; write it as a [{'.'.join(str(part) for part in loc)}] table",
        "literal_error": f"{shown} is not one of {expected.replace(chr(39), chr(34))}",
        "model_type": f"{shown} is not a table; write it as a [{'.'.join(str(part) for part in loc)}] table",
    }
    return advice.get(kind)


def _is_table(loc: tuple[int | str, ...]) -> bool:
    """Whether `loc` names a table of the config (a model), not a key."""
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return False
        model = annotation
    return True


def _keys_beside(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the table holding `loc`'s last key accepts, for a suggestion."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return [name for name in model.model_fields if name != "source"]


def _toml_key(part: str) -> str:
    """A key as TOML needs it written: bare when it can be, else quoted ("@mybrand")."""
    return part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else f'"{part}"'


def resolve_api_key(config: Config, environ: Mapping[str, str]) -> str:
    """The API key from the environment, the key file, or a systemd credential, in that order."""
    if environ.get(API_KEY_ENV, "").strip():
        return environ[API_KEY_ENV].strip()
    candidates: list[tuple[Path, str]] = []
    if config.postqued.api_key_file is not None:
        candidates.append((config.postqued.api_key_file, "[postqued].api_key_file"))
    if environ.get("CREDENTIALS_DIRECTORY"):
        candidates.append((Path(environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME, "systemd credential"))
    for key_path, origin in candidates:
        try:
            key = key_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{origin} {key_path}: cannot read the API key: {exc.strerror}") from exc
        if not key:
            raise ConfigError(f"{origin} {key_path}: the file is empty; put the pq_... key in it")
        if (warning := key_file_warning(key_path, origin)) is not None and warning not in _warned:
            _warned.add(warning)  # once per process: run and once resolve the key more than once
            log.warning("%s", warning)
        return key
    raise ConfigError(
        f"no API key: set {API_KEY_ENV}, or api_key_file in [postqued], "
        f"or a systemd credential named {CREDENTIAL_NAME}"
    )


def key_file_warning(key_path: Path, origin: str) -> str | None:
    """What to say of a key file that group or others may read or write (as ssh says of a private key), or None."""
    try:
        mode = stat.S_IMODE(key_path.stat().st_mode)
    except OSError:
        return None
    if not mode & 0o077:
        return None
    return (f"{origin} {key_path} can be read by others than its owner (mode {mode:04o}): anyone who can read it "
            f"can post in your name; make it private: chmod 600 {key_path}")


def inbox_not_a_folder(path: Path) -> str:
    """What every command (`check`, `status`, `run`, `once`, ...) says when [inbox].path is missing or a file."""
    make = f"mkdir -p {shlex.quote(str(path))}"
    if path.is_symlink() or path.exists():
        return f"[inbox].path {path} is not a folder; move what is there away, then make the inbox with `{make}`"
    return f"[inbox].path {path} is not there; make it with `{make}` (or mount the share it is on)"


def _absolute(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (base / path).resolve()
