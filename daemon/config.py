"""The configuration file: TOML read into typed, immutable, defaulted models.

Nothing else reads settings; the loaded `Config` is passed explicitly.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from daemon.errors import ConfigError

API_KEY_ENV = "POSTQUED_API_KEY"
CONFIG_ENV = "PQDROP_CONFIG"
CREDENTIAL_NAME = "postqued_api_key"
DEFAULT_BASE_URL = "https://api.postqued.com"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class InboxConfig(_Section):
    path: Path
    settle_seconds: float = Field(5.0, ge=0)
    watch: Literal["auto", "events", "poll"] = "auto"
    poll_interval: float = Field(10.0, gt=0)
    rescan_seconds: float = Field(300.0, gt=0)
    sidecar_wait_seconds: float = Field(30.0, ge=0)
    require_sidecar: bool = True
    ignore: tuple[str, ...] = ()


class RateLimits(_Section):
    upload: int = Field(20, gt=0)
    read: int = Field(30, gt=0)
    publish: int = Field(10, gt=0)
    delete: int = Field(20, gt=0)
    # PostQued counts per minute; tests shrink the window to seconds.
    window_seconds: float = Field(60.0, gt=0)


class PostquedConfig(_Section):
    base_url: str = DEFAULT_BASE_URL
    api_key_file: Path | None = None
    timeout_seconds: float = Field(30.0, gt=0)
    follow_seconds: float = Field(120.0, ge=0)
    workers: int = Field(3, ge=1, le=16)
    rate_limits: RateLimits = RateLimits()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class DefaultsConfig(_Section):
    account: str | None = None
    intent: Literal["draft", "publish"] = "draft"
    platform: str = "tiktok"
    timezone: str = "UTC"
    late_grace_minutes: float = Field(15.0, ge=0)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as 'Europe/Berlin'") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class StateConfig(_Section):
    dir: Path


class Config(_Section):
    inbox: InboxConfig
    postqued: PostquedConfig = PostquedConfig()
    defaults: DefaultsConfig = DefaultsConfig()
    state: StateConfig
    source: Path | None = None


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
    postqued = config.postqued
    if postqued.api_key_file is not None:
        postqued = postqued.model_copy(update={"api_key_file": _absolute(postqued.api_key_file, base)})
    return config.model_copy(update={"inbox": inbox, "state": state, "postqued": postqued})


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: the dotted key, what is wrong, and the value given."""
    lines = []
    for problem in exc.errors():
        key = ".".join(str(part) for part in problem["loc"])
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown key"
        elif problem["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{key}: {message}")
    return "; ".join(lines)


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
        return key
    raise ConfigError(
        f"no API key: set {API_KEY_ENV}, or api_key_file in [postqued], "
        f"or a systemd credential named {CREDENTIAL_NAME}"
    )


def _absolute(path: Path, base: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def environ() -> Mapping[str, str]:
    """The process environment, behind a function so callers can pass their own mapping."""
    return os.environ
