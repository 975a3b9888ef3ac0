"""Pure checks of v2 request bodies (reference A3, A4, A5, A8); TikTok targets also pass v1's TikTok checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pqdrop.platforms import PLATFORMS, missing_options, option_problem, platform
from pqdrop.sandbox.instants import parse_instant
from pqdrop.sandbox.refusal import Refusal, invalid
from pqdrop.sandbox.validation import (
    DISPATCH_GRACE_SECONDS,
    IMAGE_TYPES,
    INTENTS,
    MAX_IMAGE_BYTES,
    MAX_VIDEO_BYTES,
    VIDEO_TYPES,
    CompleteRequest,
    PublishRequest,
    TargetRequest,
    check_publish_request,
    sniff_image_type,
)

MAX_CAPTION_CHARS = 63206  # one cap for every platform in v2 (S1); TikTok's own is checked on its targets
MAX_CONTENT_IDS = 35
MAX_TARGETS = 10
UPLOAD_FIELDS = ("filename", "contentType", "fileSize", "workspaceId")
COMPLETE_FIELDS = (
    "contentId", "key", "filename", "contentType", "workspaceId", "size", "width", "height", "durationMs",
)
PUBLISH_FIELDS = ("contentIds", "targets", "dryRun", "workspaceId")
TARGET_FIELDS = ("platform", "accountId", "intent", "caption", "dispatchAt", "options")
REQUIRED_TARGET_FIELDS = ("platform", "accountId", "intent", "caption", "dispatchAt")
TIKTOK_PHOTO_TITLE_RUNES = 90  # TikTok's photo title cap (T3); longer captions go to the description


@dataclass(frozen=True)
class UploadStart:
    """A v2 upload session: a video or an image."""

    kind: Literal["video", "image"]
    filename: str
    content_type: str
    file_size: int


@dataclass(frozen=True)
class V2Publish:
    """A well-formed v2 publish body."""

    request: PublishRequest
    dry_run: bool


def check_upload_start(body: Mapping[str, Any]) -> UploadStart:
    """`POST /v2/content/upload`: videos and images alike, fileSize checked against 4 GB / 20 MB."""
    _known(body, UPLOAD_FIELDS, "body")
    filename = _text(body, "filename")
    content_type = body.get("contentType")
    if content_type in VIDEO_TYPES:
        kind: Literal["video", "image"] = "video"
        limit, label = MAX_VIDEO_BYTES, "4GB video"
    elif content_type in IMAGE_TYPES:
        kind, limit, label = "image", MAX_IMAGE_BYTES, "20MB image"
    else:
        raise invalid(f"contentType is {content_type!r}; expected one of {', '.join([*VIDEO_TYPES, *IMAGE_TYPES])}")
    size = body.get("fileSize")
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise invalid(f"fileSize must be a positive integer, not {size!r}")
    if size > limit:
        raise invalid(f"Invalid request or file too large: fileSize {size} is over the {label} limit")
    return UploadStart(kind, filename, str(content_type), int(size))


def check_upload_complete(body: Mapping[str, Any], kind: str, head: bytes) -> CompleteRequest:
    """`POST /v2/content/upload/complete`; an image is checked by its file signature (S1)."""
    _known(body, COMPLETE_FIELDS, "body")
    content_type = str(body.get("contentType"))
    if kind == "image":
        found = sniff_image_type(head)
        if found != content_type:
            raise invalid(f"type mismatch: the uploaded bytes are {found or 'not an image'}, not {content_type}")
    measured: dict[str, Any] = {name: body.get(name) for name in ("size", "width", "height", "durationMs")}
    needed = ("size", "width", "height", "durationMs") if kind == "video" else ("size", "width", "height")
    for name in needed:
        if not _positive(measured[name]):
            raise invalid(f"{name} must be a positive integer, not {measured[name]!r}")
    if kind == "image" and measured["durationMs"] is not None:
        raise invalid("durationMs is for videos; an image has none")
    return CompleteRequest(
        content_id=_text(body, "contentId"), key=_text(body, "key"), filename=_text(body, "filename"),
        content_type=content_type, size=int(measured["size"]), width=int(measured["width"]),
        height=int(measured["height"]), duration_ms=int(measured["durationMs"] or 0),
    )


def check_publish(body: Mapping[str, Any], now: float, accounts: Mapping[str, str]) -> V2Publish:
    """`POST /v2/publish`: 0..35 contents, 1..10 targets with their platform's options (`accounts`: id → platform)."""
    _known(body, PUBLISH_FIELDS, "body")
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise invalid("dryRun must be true or false")
    content_ids = body.get("contentIds")
    if not isinstance(content_ids, list) or len(content_ids) > MAX_CONTENT_IDS or not all(
            isinstance(item, str) and item for item in content_ids):
        raise invalid(f"contentIds must be a list of 0 to {MAX_CONTENT_IDS} content ids")
    raw_targets = body.get("targets")
    if not isinstance(raw_targets, list) or not 1 <= len(raw_targets) <= MAX_TARGETS:
        raise invalid(f"targets must be a list of 1 to {MAX_TARGETS} targets")
    targets = tuple(_target(raw, f"targets[{index}]", now, accounts) for index, raw in enumerate(raw_targets))
    tiktok = [raw for raw, target in zip(raw_targets, targets, strict=True) if target.platform == "tiktok"]
    if tiktok and content_ids:
        check_publish_request({"contentIds": content_ids, "targets": tiktok}, now)  # TikTok's own rules
    return V2Publish(PublishRequest(tuple(content_ids), targets), dry_run)


def check_dispatch(value: Any, where: str, now: float) -> float | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid dispatchAt: {where} must be null or an ISO 8601 date-time with an offset")
    try:
        moment = parse_instant(value)
    except ValueError as exc:
        raise invalid(f"Invalid dispatchAt: {where}: {exc}") from exc
    if moment < now - DISPATCH_GRACE_SECONDS:
        raise invalid(f"Invalid dispatchAt: {where} {value} is in the past; use null to post now")
    return moment


def _target(raw: Any, where: str, now: float, accounts: Mapping[str, str]) -> TargetRequest:
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object")
    _known(raw, TARGET_FIELDS, where)
    for name in REQUIRED_TARGET_FIELDS:
        if name not in raw:
            raise invalid(f"{where}.{name} is required (dispatchAt may be null, but must be there)")
    name = raw["platform"]
    if name not in PLATFORMS:
        raise invalid(f"{where}.platform is {name!r}; expected one of {', '.join(PLATFORMS)}")
    account_id = _text(raw, "accountId", where)
    if account_id not in accounts:
        raise Refusal(400, "ACCOUNT_NOT_FOUND", f"{where}.accountId: no account {account_id!r} in this workspace")
    if accounts[account_id] != name:
        raise invalid(f"{where}.accountId {account_id} is a {accounts[account_id]} account, not a {name} one")
    if raw["intent"] not in INTENTS:
        raise invalid(f"{where}.intent is {raw['intent']!r}; expected one of {', '.join(INTENTS)}")
    caption = raw["caption"]
    if not isinstance(caption, str) or not 1 <= len(caption) <= MAX_CAPTION_CHARS:
        raise invalid(f"{where}.caption must be text of 1 to {MAX_CAPTION_CHARS} characters")
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise invalid(f"{where}.options must be an object")
    table = platform(name)
    for key, value in options.items():
        problem = option_problem(table, key, value)
        if problem:
            raise invalid(f"{where}.options.{key}: {problem}")
    missing = missing_options(name, options)
    if missing:
        raise invalid(f"{where}.options.{missing[0]} is required for {table.label}")
    return TargetRequest(name, account_id, str(raw["intent"]), caption,
                         check_dispatch(raw["dispatchAt"], f"{where}.dispatchAt", now), dict(options))


def photo_caption_warnings(request: PublishRequest, images: int) -> list[str]:
    """What a dry run warns of: a TikTok photo caption over the 90-rune title cap goes to the description."""
    warnings = []
    for index, target in enumerate(request.targets):
        runes = len(target.caption.encode("utf-16-le")) // 2
        if images and target.platform == "tiktok" and runes > TIKTOK_PHOTO_TITLE_RUNES:
            warnings.append(f"targets[{index}]: a TikTok photo title takes {TIKTOK_PHOTO_TITLE_RUNES} runes; "
                            f"the caption's {runes} go to the description")
    return warnings


def _known(raw: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise invalid(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(allowed)}")


def _text(raw: Mapping[str, Any], name: str, where: str = "") -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{where + '.' if where else ''}{name} is required and must be a non-empty string")
    return value


def _positive(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
