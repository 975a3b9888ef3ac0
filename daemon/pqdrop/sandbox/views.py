"""How records look on the wire: the JSON of contents, publishes and targets at a given time."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from pqdrop.sandbox.instants import format_instant
from pqdrop.sandbox.progress import request_status
from pqdrop.sandbox.records import Account, Content, Publish, Target


def account_view(account: Account) -> dict[str, Any]:
    """An entry of GET /v1/platform-accounts."""
    return {
        "id": account.id,
        "platform": account.platform,
        "username": account.username,
        "displayName": account.display_name,
    }


def content_view(content: Content) -> dict[str, Any]:
    """A content record as upload-complete and upload-image return it."""
    view: dict[str, Any] = {
        "contentId": content.content_id,
        "key": content.key,
        "type": content.kind,
        "status": content.status,
        "filename": content.filename,
        "contentType": content.content_type,
        "size": content.received_size if content.received_size is not None else content.declared_size,
        "createdAt": format_instant(content.created_at),
    }
    if content.width is not None:
        view.update(width=content.width, height=content.height)
        if content.kind == "video":
            view["durationMs"] = content.duration_ms
    return view


def content_summary(content: Content) -> dict[str, Any]:
    """What tests inspect about a content: declared and received size, and the received bytes' hash."""
    return {
        **content_view(content),
        "size": content.declared_size,
        "receivedSize": content.received_size,
        "sha256": content.sha256,
    }


def initial_publish_view(publish: Publish) -> dict[str, Any]:
    """The reply to POST /v1/content/publish: pending, each target queued or scheduled."""
    targets = [_target_base(target, target.timeline.initial_status()) for target in publish.targets]
    return {**_publish_base(publish), "status": "pending", "targets": targets}


def publish_view(publish: Publish, now: float) -> dict[str, Any]:
    """The reply to GET /v1/content/publish/<id>: every status as of `now`."""
    targets = [target_view(target, now) for target in publish.targets]
    status = request_status([target["status"] for target in targets])
    view = {**_publish_base(publish), "status": status, "targets": targets}
    if publish.canceled_at is not None:
        view["canceledAt"] = format_instant(publish.canceled_at)
    return view


def publish_summary(publish: Publish, now: float) -> dict[str, Any]:
    """What tests inspect about a publish: its view plus the Idempotency-Key and the body sent."""
    body = copy.deepcopy(publish.body)
    return {**publish_view(publish, now), "idempotencyKey": publish.idempotency_key, "body": body}


def target_view(target: Target, now: float) -> dict[str, Any]:
    """One target as of `now`, with its post link, inbox delivery or failure reason once ended."""
    status = target.timeline.status_at(now)
    view = _target_base(target, status)
    ended = format_instant(target.timeline.ends_at)
    if status == "published":
        post_id = _post_id(target.target_id)
        view.update(postId=post_id, url=post_url(target, post_id))
        view["publishedAt"] = ended
    elif status == "sent":
        view["sentAt"] = ended
    elif status == "failed":
        if target.fail_reason is not None:  # TikTok's own reason (T6)
            reason = f"TikTok failed the post: {target.fail_reason}"
            view["error"] = {"code": target.fail_reason, "message": reason}
        else:
            reason = target.account.rejection or "TikTok rejected the post"
            view["error"] = {"code": "PLATFORM_REJECTED", "message": reason}
        view["reason"] = reason
    elif status == "canceled" and target.timeline.canceled_at is not None:
        view["canceledAt"] = format_instant(target.timeline.canceled_at)
    return view


POST_URLS = {
    "tiktok": "https://www.tiktok.com/{user}/video/{id}",
    "instagram": "https://www.instagram.com/reel/{id}/",
    "youtube": "https://www.youtube.com/shorts/{id}",
    "facebook": "https://www.facebook.com/{bare}/posts/{id}",
    "twitter": "https://x.com/{bare}/status/{id}",
}


def post_url(target: Target, post_id: str) -> str:
    """Where a published post can be seen (a made-up but platform-shaped link)."""
    pattern = POST_URLS.get(target.platform, "https://{platform}.example/{bare}/{id}")
    user = target.account.username
    return pattern.format(user=user, bare=user.lstrip("@"), id=post_id, platform=target.platform)


def _publish_base(publish: Publish) -> dict[str, Any]:
    return {
        "publishId": publish.publish_id,
        "contentIds": list(publish.content_ids),
        "createdAt": format_instant(publish.created_at),
    }


def _target_base(target: Target, status: str) -> dict[str, Any]:
    dispatch_at = target.timeline.dispatch_at
    return {
        "id": target.target_id,
        "platform": target.platform,
        "accountId": target.account.id,
        "username": target.account.username,
        "intent": target.intent,
        "caption": target.caption,
        "options": dict(target.options),
        "status": status,
        "dispatchAt": None if dispatch_at is None else format_instant(dispatch_at),
    }


def _post_id(target_id: str) -> str:
    """A TikTok-like 19-digit numeric post id, stable for a target."""
    digest = int(hashlib.sha256(target_id.encode()).hexdigest(), 16)
    return str(7 * 10**18 + digest % 10**18)
