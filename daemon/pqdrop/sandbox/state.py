"""The sandbox's in-memory PostQued: keys, contents, publishes, idempotency and quotas.

No sockets here: every method takes plain values, reads time from the injected clock, and
either returns the reply body or raises a Refusal. One lock makes each call atomic, because
the HTTP server answers on many threads.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

from pqdrop.sandbox.instants import format_instant
from pqdrop.sandbox.progress import Timeline
from pqdrop.sandbox.ratelimit import DEFAULT_RATE_LIMITS, SlidingWindow, Verdict
from pqdrop.sandbox.records import (
    ACCOUNTS,
    KEY_STATUSES,
    Account,
    Content,
    IdempotencyRecord,
    KeyStatus,
    Publish,
    Target,
)
from pqdrop.sandbox.refusal import Refusal, invalid
from pqdrop.sandbox.signing import DATE_PARAM, EXPIRES_PARAM, SIGNATURE_PARAM, UrlSigner, expires_at, lifetime_problem
from pqdrop.sandbox.tiktok import Media, Post, TikTok
from pqdrop.sandbox.validation import (
    IMAGE_TYPES,
    MAX_IMAGES,
    VIDEO_TYPES,
    CompleteRequest,
    PublishRequest,
    check_complete_request,
    check_publish_request,
    check_upload_request,
)
from pqdrop.sandbox.views import (
    account_view,
    content_summary,
    content_view,
    initial_publish_view,
    publish_summary,
    publish_view,
)

STORAGE_PREFIX = "/storage/"
PRESIGN_SECONDS = 900
IDEMPOTENCY_SECONDS = 24 * 3600  # PostQued keeps an Idempotency-Key for 24 hours


@dataclass(frozen=True)
class PublishOutcome:
    """The reply to a publish call, and whether it replays an earlier one."""

    status: int
    body: dict[str, Any]
    replayed: bool


class SandboxState:
    """Everything the sandbox knows, changed only through these methods."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("pq_sandbox",),
        rate_limits: Mapping[str, int] = DEFAULT_RATE_LIMITS,
        window_seconds: float = 60.0,
        processing_seconds: float = 0.5,
        presign_seconds: int = PRESIGN_SECONDS,
        clock: Callable[[], float],
    ) -> None:
        self.clock = clock
        self.presign_seconds = presign_seconds
        self.storage_puts: list[dict[str, Any]] = []  # every presigned PUT as storage saw it
        self.refusing: set[str] = set()  # usernames whose posts fail for now: a platform's passing refusal
        self.processing_seconds = processing_seconds
        self.publish_calls = 0
        self.rate_limited_count = 0
        self._lock = threading.RLock()
        self._keys: dict[str, KeyStatus] = {key: "ok" for key in api_keys}
        self._limiter = SlidingWindow(rate_limits, window_seconds)
        self._signer = UrlSigner(os.urandom(32))
        self._contents: dict[str, Content] = {}
        self._content_by_key: dict[str, str] = {}
        self._publishes: dict[str, Publish] = {}
        self._idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self.tiktok = TikTok()  # TikTok's rules, account settings and caps behind the publishes (issue 13)

    # -- keys and quotas -------------------------------------------------------------

    def set_key(self, key: str, status: KeyStatus) -> None:
        """Treat `key` as valid, revoked, or lacking a subscription from now on."""
        if status not in KEY_STATUSES:
            raise ValueError(f"key status must be one of {', '.join(KEY_STATUSES)}, not {status!r}")
        with self._lock:
            self._keys[key] = status

    def authenticate(self, authorization: str | None) -> str:
        """The API key of a `Bearer` Authorization header, or a 401/403 refusal."""
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise Refusal(401, "UNAUTHORIZED", "Missing or malformed Authorization header; send 'Bearer pq_...'")
        with self._lock:
            status = self._keys.get(key)
        if status is None:
            raise Refusal(401, "UNAUTHORIZED", "Invalid API key")
        if status == "revoked":
            raise Refusal(401, "UNAUTHORIZED", "This API key has been revoked; create a new one in the console")
        if status == "subscription_required":
            raise Refusal(403, "SUBSCRIPTION_REQUIRED", "An active subscription is required to use the PostQued API")
        if status == "payment_required":
            raise Refusal(402, "PAYMENT_REQUIRED", "Your plan does not include posting through the API")
        return key

    def control(self, authorization: str | None) -> None:
        """Let a request to the control routes through only with a key this sandbox knows (a revoked one too,
        so a test can take its revocation back); anyone else on the machine could rewrite its state."""
        scheme, _, key = (authorization or "").partition(" ")
        with self._lock:
            known = scheme.lower() == "bearer" and key.strip() in self._keys
        if not known:
            raise Refusal(401, "UNAUTHORIZED", "The /_sandbox control routes take a key this sandbox knows: send "
                                               "'Authorization: Bearer pq_sandbox' (or another key it was given)")

    def take_quota(self, api_key: str, category: str) -> Verdict:
        """Count one request against the key's quota for `category`."""
        with self._lock:
            return self._limiter.take(api_key, category, self.clock())

    def note_rate_limited(self) -> None:
        """Count one 429 served."""
        with self._lock:
            self.rate_limited_count += 1

    # -- contents --------------------------------------------------------------------

    def begin_upload(self, api_key: str, body: Mapping[str, Any], base_url: str) -> dict[str, Any]:
        """Open a video upload session and presign the storage URL the bytes go to."""
        request = check_upload_request(body)
        return self.open_upload(api_key, "video", request.filename, request.content_type, request.file_size, base_url)

    def open_upload(
        self, api_key: str, kind: Literal["video", "image"], filename: str, content_type: str, size: int, base_url: str
    ) -> dict[str, Any]:
        """A presigned upload session for a checked request (v1 videos; v2 videos and images)."""
        now = self.clock()
        content = self._new_content(api_key, kind, filename, content_type, size)
        path = STORAGE_PREFIX + content.key
        query = self._signer.query(path, content_type, size, now, self.presign_seconds)
        expiry = int(now) + self.presign_seconds
        return {
            "contentId": content.content_id,
            "key": content.key,
            "upload": {
                "url": f"{base_url}{path}?{query}",
                "method": "PUT",
                "headers": {"Content-Type": content_type},
                "key": content.key,
                "expiresAt": format_instant(expiry),
            },
        }

    def authorize_put(
        self,
        path: str,
        query: Mapping[str, str],
        *,
        has_authorization: bool,
        content_type: str | None,
        content_length: int | None,
    ) -> Content:
        """Check a presigned PUT the way S3 would, before any body byte is read."""
        if has_authorization:
            raise Refusal(
                403, "AccessDenied", "Only one auth mechanism allowed; a presigned URL takes no Authorization header"
            )
        if not {DATE_PARAM, EXPIRES_PARAM, SIGNATURE_PARAM} <= query.keys():
            raise Refusal(
                403, "AccessDenied",
                f"Query-string authentication requires the {DATE_PARAM}, {EXPIRES_PARAM} and {SIGNATURE_PARAM} "
                "parameters",
            )
        if problem := lifetime_problem(query):
            raise Refusal(400, "AuthorizationQueryParametersError", problem)
        expiry = expires_at(query)
        if expiry is None:
            raise Refusal(400, "AuthorizationQueryParametersError", f"{DATE_PARAM} must be like 20261201T180000Z")
        with self._lock:
            content = self._contents.get(self._content_by_key.get(path.removeprefix(STORAGE_PREFIX), ""))
        if content_length is None:
            raise Refusal(411, "MissingContentLength", "You must provide the Content-Length HTTP header")
        if not self._signer.matches(path, query, content_type or "", content_length):
            raise Refusal(
                403, "SignatureDoesNotMatch", self._mismatch(path, query, content, content_type, content_length)
            )
        if self.clock() > expiry:
            raise Refusal(403, "AccessDenied", "Request has expired")
        if content is None or content.status == "deleted":
            raise Refusal(404, "NoSuchUpload", "The upload session does not exist or was deleted")
        return content

    def note_storage_put(self, record: Mapping[str, Any]) -> int:
        """Keep what one presigned PUT looked like to storage (path, query, headers); returns its index."""
        with self._lock:
            self.storage_puts.append(dict(record))
            return len(self.storage_puts) - 1

    def finish_storage_put(self, index: int, **fields: Any) -> None:
        """Add what a received PUT delivered (contentId, receivedSize, wireSeconds) to its record."""
        with self._lock:
            self.storage_puts[index] = {**self.storage_puts[index], **fields}

    def record_upload(self, content_id: str, size: int, sha256: str, head: bytes = b"") -> None:
        """Remember the bytes a presigned PUT delivered (and their first bytes, the file signature)."""
        with self._lock:
            content = self._contents[content_id]
            content.received_size, content.sha256, content.head = size, sha256, head
            if content.status == "awaiting_upload":
                content.status = "uploaded"

    def complete_upload(self, api_key: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Mark an uploaded video ready; completing twice is harmless."""
        return self.finish_upload(api_key, check_complete_request(body), images=False)

    def finish_upload(self, api_key: str, request: CompleteRequest, *, images: bool) -> dict[str, Any]:
        """Mark checked uploaded bytes ready; v2 completes images too (`images`)."""
        with self._lock:
            content = self._owned_content(api_key, request.content_id)
            if content.kind != "video" and not images:
                raise invalid(f"contentId {content.content_id} is an image; images are ready after upload-image")
            if request.key != content.key:
                raise invalid(
                    f"key {request.key!r} does not belong to contentId {content.content_id}; expected {content.key!r}"
                )
            if request.content_type != content.content_type:
                raise invalid(f"contentType {request.content_type} differs from {content.content_type} given at upload")
            if content.received_size is None:
                raise invalid(
                    f"nothing was uploaded for contentId {content.content_id}; PUT the file to upload.url first"
                )
            if request.size != content.received_size:
                raise invalid(f"size {request.size} differs from the {content.received_size} bytes received")
            content.width, content.height, content.duration_ms = request.width, request.height, request.duration_ms
            content.status = "ready"
            return content_view(content)

    def add_image(
        self, api_key: str, filename: str, content_type: str, size: int, sha256: str,
        picture: tuple[int, int] | None = None,
    ) -> dict[str, Any]:
        """Store a received image (with its width and height when known) as ready content."""
        with self._lock:
            content = self._new_content(api_key, "image", filename, content_type, size)
            content.received_size, content.sha256, content.status = size, sha256, "ready"
            if picture is not None:
                content.width, content.height = picture
            return content_view(content)

    def delete_content(self, api_key: str, content_id: str) -> dict[str, Any]:
        """Delete a content; its storage key is in the reply so the shell can drop the bytes."""
        with self._lock:
            content = self._owned_content(api_key, content_id)
            content.status = "deleted"
            return {"contentId": content_id, "key": content.key, "deleted": True}

    # -- accounts and publishes ------------------------------------------------------

    def accounts(self, platform: str | None) -> dict[str, Any]:
        """The connected TikTok accounts v1 lists (v2 lists every platform's: v2.py)."""
        chosen = [account for account in ACCOUNTS if account.platform == "tiktok" and platform in (None, "", "tiktok")]
        return {"accounts": [account_view(account) for account in chosen]}

    def publish(
        self, api_key: str, idempotency_key: str | None, body: Mapping[str, Any],
        check: Callable[[Mapping[str, Any], float], PublishRequest] = check_publish_request,
    ) -> PublishOutcome:
        """Accept a publish, or replay the first reply to the same Idempotency-Key and body."""
        if not idempotency_key:
            raise Refusal(
                400, "MISSING_IDEMPOTENCY_KEY", "Send an Idempotency-Key header: a fresh UUID for each new publish"
            )
        fingerprint = json.dumps(body, sort_keys=True, separators=(",", ":"))
        with self._lock:
            now = self.clock()
            earlier = self._idempotency.get((api_key, idempotency_key))
            if earlier is not None and now - earlier.created_at < IDEMPOTENCY_SECONDS:
                if earlier.fingerprint != fingerprint:
                    raise Refusal(
                        409,
                        "IDEMPOTENCY_CONFLICT",
                        f"Idempotency-Key {idempotency_key!r} was used with a different body; use a new key",
                    )
                return PublishOutcome(earlier.status, copy.deepcopy(earlier.reply), replayed=True)
            publish = self._new_publish(api_key, idempotency_key, body, check(body, now), now)
            reply = initial_publish_view(publish)
            self._idempotency[(api_key, idempotency_key)] = IdempotencyRecord(
                fingerprint, 201, copy.deepcopy(reply), now
            )
            return PublishOutcome(201, reply, replayed=False)

    def publish_status(self, api_key: str, publish_id: str) -> dict[str, Any]:
        """A publish with every status as of now."""
        with self._lock:
            return publish_view(self._owned_publish(api_key, publish_id), self.clock())

    def delete_publish(self, publish_id: str) -> None:
        """What deleting the post in PostQued's dashboard does: its id is unknown from now on (404)."""
        with self._lock:
            del self._publishes[publish_id]

    def cancel_publish(self, api_key: str, publish_id: str) -> dict[str, Any]:
        """Cancel a pending or scheduled publish; 409 once a target is processing or done, as PostQued refuses."""
        with self._lock:
            publish = self._owned_publish(api_key, publish_id)
            now = self.clock()
            statuses = [target.timeline.status_at(now) for target in publish.targets]
            if all(status == "canceled" for status in statuses):
                return publish_view(publish, now)  # canceled before: a repeated DELETE is answered alike
            started = [(target, status) for target, status in zip(publish.targets, statuses, strict=True)
                       if status not in ("queued", "scheduled", "canceled")]
            if started:
                target, status = started[0]
                raise Refusal(409, "NOT_CANCELABLE",
                              f"publish {publish_id} cannot be canceled: target {target.target_id} is already {status}")
            for target in publish.targets:
                target.timeline = dataclasses.replace(target.timeline, canceled_at=now)
            publish.canceled_at = now
            return publish_view(publish, now)

    def check_contents(self, api_key: str, content_ids: tuple[str, ...]) -> None:
        """What a publish checks of its contents, for a v2 dry run."""
        with self._lock:
            self._check_contents(api_key, content_ids)

    def content(self, api_key: str, content_id: str) -> Content:
        """A content of this key, or a 404 refusal."""
        with self._lock:
            return self._owned_content(api_key, content_id)

    def content_key(self, content_id: str) -> str:
        """The storage key of a content ("" when there is none)."""
        with self._lock:
            content = self._contents.get(content_id)
            return content.key if content else ""

    def owned_publish(self, api_key: str, publish_id: str) -> Publish:
        """A publish of this key, or a 404 refusal; change it only under `lock`."""
        return self._owned_publish(api_key, publish_id)

    def find_target(self, api_key: str, target_id: str) -> tuple[Publish, Target]:
        """The publish and target of a target id of this key's publishes, or a 404 refusal."""
        with self._lock:
            for publish in self._publishes.values():
                for target in publish.targets:
                    if target.target_id == target_id and publish.owner == owner_of(api_key):
                        return publish, target
        raise Refusal(404, "TARGET_NOT_FOUND", f"Target not found: {target_id!r}")

    @property
    def lock(self) -> AbstractContextManager[bool]:
        """The lock every change of a record happens under."""
        return self._lock

    # -- the state file (snapshot.py) --------------------------------------------------

    def records(self) -> tuple[list[Content], list[Publish], dict[tuple[str, str], IdempotencyRecord]]:
        """Copies of the contents, publishes and idempotency records (keyed by owner, not key) to keep on disk."""
        with self._lock:
            idempotency = {(owner_of(key), idem): record for (key, idem), record in self._idempotency.items()}
            return copy.deepcopy(list(self._contents.values())), copy.deepcopy(list(self._publishes.values())), \
                idempotency

    def restore(self, contents: Iterable[Content], publishes: Iterable[Publish],
                idempotency: Mapping[tuple[str, str], IdempotencyRecord]) -> None:
        """Take back what `records` gave, at start, before the first request."""
        with self._lock:
            self._contents = {content.content_id: content for content in contents}
            self._content_by_key = {content.key: content.content_id for content in self._contents.values()}
            self._publishes = {publish.publish_id: publish for publish in publishes}
            self._idempotency = dict(idempotency)

    # -- inspection for tests --------------------------------------------------------

    @property
    def publish_requests(self) -> list[dict[str, Any]]:
        """Accepted publishes in order, each with publishId, idempotencyKey, body, targets and createdAt."""
        with self._lock:
            now = self.clock()
            return [publish_summary(publish, now) for publish in self._publishes.values()]

    @property
    def contents(self) -> dict[str, dict[str, Any]]:
        """contentId -> filename, contentType, size, receivedSize, sha256 and status."""
        with self._lock:
            return {content_id: content_summary(content) for content_id, content in self._contents.items()}

    def summary(self) -> dict[str, Any]:
        """The JSON GET /_sandbox/state returns."""
        with self._lock:
            return {
                "publishes": self.publish_requests,
                "publish_calls": self.publish_calls,
                "contents": self.contents,
                "rate_limited_count": self.rate_limited_count,
                "storage_puts": [dict(put) for put in self.storage_puts],
            }

    # -- helpers ---------------------------------------------------------------------

    def _new_content(
        self, api_key: str, kind: Literal["video", "image"], filename: str, content_type: str, size: int
    ) -> Content:
        content_id = str(uuid.uuid4())
        extension = {**VIDEO_TYPES, **IMAGE_TYPES}[content_type]
        owner = owner_of(api_key)
        key = f"content/{owner}/{content_id}.{extension}"
        content = Content(content_id, owner, kind, key, filename, content_type, size, self.clock())
        with self._lock:
            self._contents[content_id] = content
            self._content_by_key[key] = content_id
        return content

    def _new_publish(
        self, api_key: str, idempotency_key: str, body: Mapping[str, Any], request: PublishRequest, now: float
    ) -> Publish:
        self._check_contents(api_key, request.content_ids)
        publish_id = str(uuid.uuid4())
        accounts = [_account(wanted.account_id, f"targets[{index}].accountId") for index, wanted in
                    enumerate(request.targets)]
        # TikTok's rules and caps apply to its own targets; other platforms' are left to their APIs.
        on_tiktok = [index for index, account in enumerate(accounts) if account.platform == "tiktok"]
        posts = [
            Post(accounts[index].username, wanted.intent, wanted.caption, wanted.options, wanted.dispatch_at or now)
            for index, wanted in ((index, request.targets[index]) for index in on_tiktok)
        ]
        media = [_media(self._contents[cid]) for cid in request.content_ids]
        tiktok_reasons = dict(zip(on_tiktok, self.tiktok.accept(posts, media) if posts else [], strict=True))
        reasons = [tiktok_reasons.get(index) for index in range(len(accounts))]
        targets = []
        for account, wanted, reason in zip(accounts, request.targets, reasons, strict=True):
            failed = account.rejection or reason or account.username in self.refusing
            outcome = "failed" if failed else ("published" if wanted.intent == "publish" else "sent")
            timeline = Timeline(now, wanted.dispatch_at, self.processing_seconds, outcome)
            targets.append(
                Target(str(uuid.uuid4()), account, wanted.intent, wanted.caption, dict(wanted.options), timeline,
                       fail_reason=reason)
            )
        publish = Publish(
            publish_id, owner_of(api_key), idempotency_key, copy.deepcopy(dict(body)), request.content_ids, targets, now
        )
        self._publishes[publish_id] = publish
        self.publish_calls += 1
        return publish

    def _check_contents(self, api_key: str, content_ids: tuple[str, ...]) -> None:
        """One ready video, or 1 to 35 ready images, all belonging to the caller."""
        kinds = []
        for index, content_id in enumerate(content_ids):
            content = self._contents.get(content_id)
            if content is None or content.owner != owner_of(api_key) or content.status == "deleted":
                raise Refusal(400, "CONTENT_NOT_FOUND", f"contentIds[{index}]: no content {content_id!r}")
            if content.status != "ready":
                raise Refusal(
                    400,
                    "CONTENT_NOT_READY",
                    f"contentIds[{index}]: {content_id} is not ready; call /v1/content/upload/complete first",
                )
            kinds.append(content.kind)
        if "video" in kinds and len(kinds) > 1:
            raise invalid("contentIds: a post is exactly one video or 1 to 35 images, not a mix")
        if len(kinds) > MAX_IMAGES:
            raise invalid(f"contentIds: a photo post takes at most {MAX_IMAGES} images, not {len(kinds)}")

    def _owned_content(self, api_key: str, content_id: str) -> Content:
        content = self._contents.get(content_id)
        if content is None or content.owner != owner_of(api_key) or content.status == "deleted":
            raise Refusal(404, "CONTENT_NOT_FOUND", f"No content {content_id!r}")
        return content

    def _owned_publish(self, api_key: str, publish_id: str) -> Publish:
        publish = self._publishes.get(publish_id)
        if publish is None or publish.owner != owner_of(api_key):
            raise Refusal(404, "PUBLISH_NOT_FOUND", f"No publish {publish_id!r}")
        return publish

    def _mismatch(
        self, path: str, query: Mapping[str, str], content: Content | None, content_type: str | None, length: int
    ) -> str:
        """Say which signed value the request broke, as a helpful S3 would."""
        base = "The request signature we calculated does not match the signature you provided"
        if content is None or not self._signer.matches(path, query, content.content_type, content.declared_size):
            return base
        if content_type != content.content_type:
            return f"{base}: Content-Type {content_type!r} is not the signed {content.content_type!r}"
        return f"{base}: Content-Length {length} is not the signed fileSize {content.declared_size}"


def _media(content: Content) -> Media:
    """What TikTok learns of a content."""
    size = content.received_size if content.received_size is not None else content.declared_size
    return Media(content.kind, content.content_type, size, content.width, content.height, content.duration_ms)


def owner_of(api_key: str) -> str:
    """The user an API key belongs to; each key is its own user in the sandbox."""
    return "usr_" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


def _account(account_id: str, where: str) -> Account:
    for account in ACCOUNTS:
        if account.id == account_id:
            return account
    hint = ", ".join(f"{account.id} ({account.username})" for account in ACCOUNTS)
    raise Refusal(400, "ACCOUNT_NOT_FOUND", f"{where}: no account {account_id!r}; known: {hint}")
