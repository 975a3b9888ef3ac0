"""Reading PostQued's replies, tolerantly: both dialects' bodies, errors and storage refusals (pure).

Most v2 reply bodies are undocumented (reference A1, A4 "[INF]"), so every reader accepts the
likely spellings, keeps what it does not know in `extra`, and never fails on a missing field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pqdrop.errors import ApiAccountBlocked, ApiError, ApiRejected, ApiUnavailable, RateLimited
from pqdrop.platforms.tiktok import is_tiktok_code, tiktok_error
from pqdrop.postqued.types import Account, PublishState, TargetState, UploadTicket, Workspace

# Target fields read into TargetState; the rest go to `extra` and on into the status file.
_KNOWN_TARGET_FIELDS = frozenset({
    "id", "targetId", "accountId", "status", "dispatchAt", "reason", "error", "errorCode", "errorMessage",
    "postId", "platformPostId", "url", "postUrl", "platform", "failReason",
})


def error_from_reply(status: int, body: Mapping[str, Any], headers: Mapping[str, str], where: str) -> ApiError:
    """Map a failed reply to the error that says what to do next.

    402 means the account's plan cannot post, whatever its `code` (v2 lists 402 without code strings, A9).
    """
    code = str(body.get("code") or f"HTTP_{status}")
    message = f"{where}: {body.get('error') or body.get('message') or f'HTTP {status}'} ({code})"
    if status == 429:
        return RateLimited(message, retry_after=retry_after_seconds(headers), code=code)
    if status >= 500:
        return ApiUnavailable(message, status=status, code=code)
    # TikTok's answer, relayed: a cap waits, a bad post fails, a lost login pauses (tiktok.py's table).
    if status != 402 and is_tiktok_code(code):
        return tiktok_error(status, code, message)
    if status in (401, 402, 403) or code == "SUBSCRIPTION_REQUIRED":
        # Said as a person would, not as a request (GET /v2/mcp/context: ...): the key or the plan is the matter.
        said = body.get("error") or body.get("message") or f"HTTP {status}"
        matter = _BLOCKED[402] if code == "SUBSCRIPTION_REQUIRED" else _BLOCKED.get(status, _BLOCKED[402])
        return ApiAccountBlocked(f"{matter}: {said} ({code})", status=status, code=code)
    return ApiRejected(message, status=status, code=code)


_BLOCKED = {
    401: "PostQued refused the API key",
    402: "PostQued will not post on this account's plan",
    403: "PostQued does not let this API key do that",
}


def retry_after_seconds(headers: Mapping[str, str], default: float = 1.0) -> float:
    """Seconds to wait after a 429, from Retry-After or the X-RateLimit-Reset header."""
    for name in ("Retry-After", "X-RateLimit-Reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            continue
    return default


def parse_upload_ticket(reply: Mapping[str, Any], where: str = "POST /v1/content/upload") -> UploadTicket:
    """Read the start-upload reply; the storage key may sit at `key` or at `upload.key`."""
    upload = _mapping(reply.get("upload"))
    key = reply.get("key") or upload.get("key")
    url = upload.get("url") or reply.get("url")
    if not (reply.get("contentId") and key and url):
        raise ApiUnavailable(f"{where}: the reply lacks contentId, key or upload.url")
    return UploadTicket(
        content_id=str(reply["contentId"]),
        key=str(key),
        url=str(url),
        method=str(upload.get("method") or "PUT").upper(),
        headers={str(name): str(value) for name, value in _mapping(upload.get("headers")).items()},
    )


def parse_account(raw: Mapping[str, Any], platform: str = "tiktok") -> Account:
    return Account(
        id=str(raw.get("id", "")),
        username=str(raw.get("username") or ""),
        platform=str(raw.get("platform") or platform),
        display_name=str(raw.get("displayName") or raw.get("display_name") or ""),
        status=str(raw.get("accountStatus") or raw.get("status") or ""),
    )


def parse_workspaces(reply: Mapping[str, Any]) -> tuple[Workspace, ...]:
    """The workspaces of `GET /v2/mcp/context`: at the top level or under each organization."""
    found: dict[str, Workspace] = {}
    for raw in _list(reply.get("workspaces")):
        _add_workspace(found, raw, str(raw.get("organizationId") or ""))
    for org in _list(reply.get("organizations")):
        for raw in _list(org.get("workspaces")):
            _add_workspace(found, raw, str(org.get("name") or org.get("id") or ""))
    return tuple(found.values())


def _add_workspace(found: dict[str, Workspace], raw: Mapping[str, Any], organization: str) -> None:
    ident = str(raw.get("id") or raw.get("workspaceId") or "")
    if ident and ident not in found:
        found[ident] = Workspace(ident, str(raw.get("name") or raw.get("slug") or ident), organization)


def parse_publish_state(reply: Mapping[str, Any]) -> PublishState:
    """A publish reply: `publishId` first, then `id`, then `publish.id` (reference A4 [INF])."""
    inner = _mapping(reply.get("publish")) or _mapping(reply.get("request"))
    source = reply if reply.get("targets") is not None or not inner else inner
    publish_id = reply.get("publishId") or reply.get("id") or inner.get("publishId") or inner.get("id") or ""
    status = reply.get("status") or inner.get("status") or ""
    warnings = tuple(str(item.get("message", item)) if isinstance(item, dict) else str(item)
                     for item in _list_any(reply.get("warnings")))
    targets = tuple(parse_target_state(raw) for raw in _list(source.get("targets") or reply.get("targets")))
    return PublishState(publish_id=str(publish_id), status=str(status), targets=targets, warnings=warnings)


def parse_target_state(raw: Mapping[str, Any]) -> TargetState:
    error = raw.get("error")
    error_map = _mapping(error)
    reason = raw.get("reason") or raw.get("errorMessage") or (
        error_map.get("message") or error_map.get("error") if error_map else error)
    code = raw.get("errorCode") or error_map.get("code") or raw.get("failReason")
    return TargetState(
        id=str(raw.get("id") or raw.get("targetId") or ""),
        account_id=str(raw.get("accountId") or ""),
        status=str(raw.get("status") or ""),
        dispatch_at=_optional_str(raw.get("dispatchAt")),
        reason=str(reason) if reason else None,
        post_id=_optional_str(raw.get("postId") or raw.get("platformPostId")),
        url=_optional_str(raw.get("url") or raw.get("postUrl")),
        platform=_optional_str(raw.get("platform")),
        error_code=_optional_str(code),
        extra={key: value for key, value in raw.items() if key not in _KNOWN_TARGET_FIELDS},
    )


def content_id_of(reply: Mapping[str, Any], where: str) -> str:
    content_id = reply.get("contentId") or _mapping(reply.get("content")).get("id")
    if not content_id:
        raise ApiUnavailable(f"{where}: the reply lacks contentId")
    return str(content_id)


def decode_json(content: bytes) -> Any:
    """The JSON of a body, or None when it is not JSON."""
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _list_any(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _optional_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)
