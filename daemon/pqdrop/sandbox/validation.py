"""Pure checks of API request bodies; every refusal names the field and what would be right."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from pqdrop.sandbox.instants import parse_instant
from pqdrop.sandbox.refusal import invalid

VIDEO_TYPES: Mapping[str, str] = {"video/mp4": "mp4", "video/quicktime": "mov", "video/webm": "webm"}
IMAGE_TYPES: Mapping[str, str] = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
MAX_VIDEO_BYTES = 4 * 1024**3
MAX_IMAGE_BYTES = 20 * 1024**2
MAX_IMAGES = 35
MAX_CAPTION_CHARS = 63206  # PostQued's own caption limit; TikTok's, per kind of post, is in tiktok.py
MAX_FILENAME_CHARS = 255
DISPATCH_GRACE_SECONDS = 60.0  # clock skew between client and server
PLATFORMS = ("tiktok",)
INTENTS = ("draft", "publish")
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
BOOLEAN_OPTIONS = (
    "disableDuet",
    "disableStitch",
    "disableComment",
    "autoAddMusic",
    "brandContentToggle",
    "brandOrganicToggle",
)
TARGET_FIELDS = ("platform", "accountId", "intent", "caption", "dispatchAt", "options")
PUBLISH_FIELDS = ("contentIds", "targets")


@dataclass(frozen=True)
class UploadRequest:
    """A video upload session asked for by POST /v1/content/upload."""

    filename: str
    content_type: str
    file_size: int


@dataclass(frozen=True)
class CompleteRequest:
    """The confirmation of a finished video upload, POST /v1/content/upload/complete."""

    content_id: str
    key: str
    filename: str
    content_type: str
    size: int
    width: int
    height: int
    duration_ms: int


@dataclass(frozen=True)
class TargetRequest:
    """One place to post to, as the publish body names it."""

    platform: str
    account_id: str
    intent: str
    caption: str
    dispatch_at: float | None
    options: Mapping[str, Any]


@dataclass(frozen=True)
class PublishRequest:
    """A well-formed publish body; whether its ids exist is the state's question."""

    content_ids: tuple[str, ...]
    targets: tuple[TargetRequest, ...]


def check_upload_request(body: Mapping[str, Any]) -> UploadRequest:
    """Validate an upload-session body: a filename, a video type, and a size PostQued accepts."""
    filename = _filename(body, "filename")
    content_type = _choice(body, "contentType", tuple(VIDEO_TYPES), "contentType")
    file_size = _positive_int(body, "fileSize", "fileSize")
    if file_size > MAX_VIDEO_BYTES:
        raise invalid(f"fileSize {file_size} is over the 4 GiB limit ({MAX_VIDEO_BYTES} bytes)")
    return UploadRequest(filename, content_type, file_size)


def check_complete_request(body: Mapping[str, Any]) -> CompleteRequest:
    """Validate an upload-complete body; videos need their width, height and durationMs."""
    return CompleteRequest(
        content_id=_string(body, "contentId", "contentId"),
        key=_string(body, "key", "key"),
        filename=_filename(body, "filename"),
        content_type=_choice(body, "contentType", tuple(VIDEO_TYPES), "contentType"),
        size=_positive_int(body, "size", "size"),
        width=_positive_int(body, "width", "width"),
        height=_positive_int(body, "height", "height"),
        duration_ms=_positive_int(body, "durationMs", "durationMs"),
    )


def check_publish_request(body: Mapping[str, Any], now: float) -> PublishRequest:
    """Validate the shape of a publish body: content ids, targets, options and dispatch times."""
    _known_fields(body, PUBLISH_FIELDS, "body")
    content_ids = _content_ids(body.get("contentIds"))
    raw_targets = body.get("targets")
    if not isinstance(raw_targets, list) or not raw_targets:
        raise invalid("targets must be a non-empty list of {platform, accountId, intent, ...} objects")
    targets = tuple(_target(raw, f"targets[{index}]", now) for index, raw in enumerate(raw_targets))
    return PublishRequest(content_ids, targets)


def sniff_image_type(head: bytes) -> str | None:
    """The image type the first bytes reveal (JPEG, PNG or WebP), or None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _content_ids(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise invalid("contentIds must be a non-empty list of content ids from /v1/content/upload")
    for index, content_id in enumerate(raw):
        if not isinstance(content_id, str) or not content_id:
            raise invalid(f"contentIds[{index}] must be a content id string")
    if len(set(raw)) != len(raw):
        raise invalid("contentIds lists the same content twice")
    return tuple(raw)


def _target(raw: Any, where: str, now: float) -> TargetRequest:
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object")
    _known_fields(raw, TARGET_FIELDS, where)
    caption = raw.get("caption")
    caption = "" if caption is None else caption
    if not isinstance(caption, str):
        raise invalid(f"{where}.caption must be a string")
    if len(caption) > MAX_CAPTION_CHARS:
        raise invalid(f"{where}.caption is {len(caption)} characters; PostQued allows {MAX_CAPTION_CHARS}")
    return TargetRequest(
        platform=_choice(raw, "platform", PLATFORMS, f"{where}.platform"),
        account_id=_string(raw, "accountId", f"{where}.accountId"),
        intent=_choice(raw, "intent", INTENTS, f"{where}.intent"),
        caption=caption,
        dispatch_at=_dispatch_at(raw.get("dispatchAt"), f"{where}.dispatchAt", now),
        options=_options(raw.get("options"), f"{where}.options"),
    )


def _dispatch_at(raw: Any, where: str, now: float) -> float | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise invalid(f"{where} must be null or an ISO-8601 timestamp such as '2026-02-20T15:00:00Z'")
    try:
        moment = parse_instant(raw)
    except ValueError as exc:
        raise invalid(f"{where}: {exc}") from exc
    if moment < now - DISPATCH_GRACE_SECONDS:
        raise invalid(f"{where} {raw} is in the past; use null to post now or a future time")
    return moment


def _options(raw: Any, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise invalid(f"{where} must be an object of TikTok options")
    _known_fields(raw, ("privacyLevel", "videoCoverTimestampMs", "photoCoverIndex", *BOOLEAN_OPTIONS), where)
    if "privacyLevel" in raw:
        _choice(raw, "privacyLevel", PRIVACY_LEVELS, f"{where}.privacyLevel")
    for name in BOOLEAN_OPTIONS:
        if name in raw and not isinstance(raw[name], bool):
            raise invalid(f"{where}.{name} must be true or false, not {raw[name]!r}")
    cover = raw.get("videoCoverTimestampMs", 0)
    if not _is_int(cover) or cover < 0:
        raise invalid(f"{where}.videoCoverTimestampMs must be an integer of milliseconds >= 0")
    index = raw.get("photoCoverIndex", 0)
    if not _is_int(index) or index < 0:
        raise invalid(f"{where}.photoCoverIndex must be an integer >= 0 (the 0-based index of the cover photo)")
    return dict(raw)


def _known_fields(raw: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise invalid(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(allowed)}")


def _string(raw: Mapping[str, Any], field: str, where: str) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"{where} is required and must be a non-empty string")
    return value


def _filename(raw: Mapping[str, Any], field: str) -> str:
    value = _string(raw, field, field)
    if len(value) > MAX_FILENAME_CHARS or "/" in value or "\\" in value:
        raise invalid(f"{field} must be a bare file name of at most {MAX_FILENAME_CHARS} characters")
    return value


def _choice(raw: Mapping[str, Any], field: str, choices: tuple[str, ...], where: str) -> str:
    value = raw.get(field)
    if value not in choices:
        raise invalid(f"{where} is {value!r}; expected one of {', '.join(choices)}")
    return str(value)


def _positive_int(raw: Mapping[str, Any], field: str, where: str) -> int:
    value = raw.get(field)
    if not _is_int(value) or value <= 0:
        raise invalid(f"{where} must be a positive integer, not {value!r}")
    return int(value)


def _is_int(value: Any) -> TypeGuard[int]:
    # JSON true/false arrive as bool, which Python counts as int.
    return isinstance(value, int) and not isinstance(value, bool)
