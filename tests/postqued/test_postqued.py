"""The PostQued client against the real sandbox over HTTP, and against a stub storage server."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from pqdrop.errors import ApiAccountBlocked, ApiRejected, ApiUnavailable, ConfigError
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.ratelimit import Category, RateLimiter
from pqdrop.postqued.storage import storage_reason
from pqdrop.postqued.types import Account, RetryPolicy, UploadTicket
from pqdrop.sandbox import Sandbox
from pqdrop.sandbox.v2 import workspace_id

API_KEY = "pq_client_test"
FAST_RETRY = RetryPolicy(attempts=3, base_seconds=0.01, cap_seconds=0.05)
GENEROUS: dict[Category, int] = {"upload": 1000, "read": 1000, "publish": 1000, "delete": 1000}
SIGNATURE = "deadbeef" * 8  # the stub's presigned "signature", which must never reach a message


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture
def sandbox(api_mode: str) -> Iterator[Sandbox]:
    with Sandbox(api_keys=(API_KEY,), processing_seconds=0.05, api=api_mode) as server:
        yield server


@pytest.fixture
def connect(api_mode: str) -> Iterator[Callable[..., PostQued]]:
    """Open clients (closed at teardown): `connect(url, key=..., limiter=..., sleep=...)`."""
    opened: list[PostQued] = []

    def open_client(
        base_url: str,
        *,
        key: str = API_KEY,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> PostQued:
        client = PostQued(
            base_url, key, limiter=limiter or RateLimiter(GENEROUS), retry=FAST_RETRY, timeout_seconds=5.0, sleep=sleep,
            api=api_mode, workspace=workspace_id() if api_mode == "v2" else None,
        )
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def client(sandbox: Sandbox, connect: Callable[..., PostQued]) -> PostQued:
    return connect(sandbox.url)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4", seconds=0.4)


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3.5 MiB of varied bytes: more than one upload chunk, not a whole number of them."""
    path = tmp_path_factory.mktemp("blob") / "blob.mp4"
    path.write_bytes(bytes(range(256)) * (14 * 1024))
    return path


@dataclass
class StorageStub:
    """A stand-in object store on loopback: records each PUT and answers the queued statuses."""

    statuses: list[int] = field(default_factory=list)
    error_body: bytes = b""
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def storage() -> Iterator[StorageStub]:
    stub = StorageStub()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            digest, received = hashlib.sha256(), 0
            while received < length:
                chunk = self.rfile.read(min(1 << 20, length - received))
                if not chunk:
                    break
                digest.update(chunk)
                received += len(chunk)
            stub.requests.append(
                {"headers": dict(self.headers.items()), "received": received, "sha256": digest.hexdigest()}
            )
            status = stub.statuses.pop(0) if stub.statuses else 200
            body = b"" if status < 300 else stub.error_body
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    stub.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield stub
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def stub_ticket(storage: StorageStub) -> UploadTicket:
    query = f"X-Pq-Expires=9999999999&X-Pq-Signature={SIGNATURE}"
    return UploadTicket(
        content_id="c1",
        key="content/u/c1.mp4",
        url=f"{storage.url}/bucket/content/u/c1.mp4?{query}",
        method="PUT",
        headers={"Content-Type": "video/mp4"},
    )


# --- helpers ---------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def upload_video(client: PostQued, path: Path) -> str:
    """The whole presigned flow for `path`; returns the ready contentId."""
    size = path.stat().st_size
    ticket = client.start_upload(path.name, "video/mp4", size)
    client.put_to_storage(ticket, path, size)
    client.complete_upload(
        ticket, filename=path.name, content_type="video/mp4", size=size, width=360, height=640, duration_ms=400
    )
    return ticket.content_id


def target(account: Account, *, dispatch_at: str | None = None, caption: str = "hello #fyp") -> dict[str, Any]:
    return {
        "platform": "tiktok",
        "accountId": account.id,
        "intent": "publish",
        "caption": caption,
        "dispatchAt": dispatch_at,
        "options": {"privacyLevel": "SELF_ONLY"},
    }


def mybrand(client: PostQued) -> Account:
    return next(account for account in client.platform_accounts() if account.username == "@mybrand")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RecordingSleep:
    """time.sleep that also remembers how long it was asked to sleep."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        time.sleep(seconds)


# --- uploads ---------------------------------------------------------------------------


def test_put_to_storage_delivers_every_byte_of_the_file(sandbox: Sandbox, client: PostQued, blob: Path) -> None:
    size = blob.stat().st_size
    ticket = client.start_upload(blob.name, "video/mp4", size)
    client.put_to_storage(ticket, blob, size)
    received = sandbox.state.contents[ticket.content_id]
    assert (received["receivedSize"], received["sha256"], received["status"]) == (size, sha256_of(blob), "uploaded")


def test_put_to_storage_reports_progress_up_to_the_file_size(client: PostQued, blob: Path) -> None:
    size = blob.stat().st_size
    seen: list[tuple[int, int]] = []
    ticket = client.start_upload(blob.name, "video/mp4", size)
    client.put_to_storage(ticket, blob, size, lambda sent, total: seen.append((sent, total)))
    mib = 1024 * 1024
    assert seen == [(mib, size), (2 * mib, size), (3 * mib, size), (size, size)]


def test_start_upload_returns_a_ticket_for_a_signed_put(client: PostQued, video: Path) -> None:
    ticket = client.start_upload("clip.mp4", "video/mp4", video.stat().st_size)
    assert ticket.method == "PUT"
    assert ticket.headers == {"Content-Type": "video/mp4"}
    assert ticket.key == f"content/{ticket.key.split('/')[1]}/{ticket.content_id}.mp4"
    assert "/storage/" + ticket.key in ticket.url


def test_complete_upload_makes_the_video_ready_with_its_measured_properties(
    sandbox: Sandbox, client: PostQued, video: Path
) -> None:
    size = video.stat().st_size
    ticket = client.start_upload(video.name, "video/mp4", size)
    client.put_to_storage(ticket, video, size)
    reply = client.complete_upload(
        ticket, filename=video.name, content_type="video/mp4", size=size, width=320, height=240, duration_ms=400
    )
    content = reply.get("content", reply)  # v2 answers {content: ContentAsset}
    assert (content.get("contentId", content.get("id")), content["status"], content["size"]) == (
        ticket.content_id, "ready", size)
    assert (content["width"], content["height"], content["durationMs"]) == (320, 240, 400)
    assert sandbox.state.contents[ticket.content_id]["sha256"] == sha256_of(video)


@pytest.mark.parametrize(("suffix", "mime"), [(".jpg", "image/jpeg"), (".webp", "image/webp"), (".png", "image/png")])
def test_upload_image_returns_the_content_id_of_the_stored_photo(
    sandbox: Sandbox, client: PostQued, tmp_path: Path, suffix: str, mime: str
) -> None:
    image = make_image(tmp_path / f"photo{suffix}", width=64, height=48)
    content_id = client.upload_image(image, mime)
    stored = sandbox.state.contents[content_id]
    assert (stored["contentType"], stored["status"], stored["sha256"]) == (mime, "ready", sha256_of(image))
    assert stored["filename"] == image.name


# --- accounts --------------------------------------------------------------------------


def test_platform_accounts_lists_the_connected_tiktok_accounts(client: PostQued) -> None:
    usernames = [account.username for account in client.platform_accounts("tiktok")]
    assert usernames == ["@mybrand", "@otherbrand", "@failing"]
    assert all(account.id.startswith("acc_") and account.platform == "tiktok" for account in client.platform_accounts())


def test_platform_accounts_are_fetched_once_per_client(sandbox: Sandbox, client: PostQued, api_mode: str) -> None:
    first = client.platform_accounts()
    assert client.platform_accounts() is first
    # The read quota counts every read request the key made: one list (v2: after the workspace check) and this one.
    path = "/v1/platform-accounts" if api_mode == "v1" else f"/v2/integrations?workspaceId={workspace_id()}"
    reply = httpx.get(f"{sandbox.url}{path}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert reply.headers["X-RateLimit-Limit"] == "30"
    reads = {"v1": 2, "v2": 3}[api_mode]  # v1: the list and this; v2: context, integrations and this
    assert reply.headers["X-RateLimit-Remaining"] == str(30 - reads)


# --- publishing ------------------------------------------------------------------------


def test_publish_replayed_with_the_same_idempotency_key_returns_the_same_publish(
    sandbox: Sandbox, client: PostQued, video: Path
) -> None:
    content_id = upload_video(client, video)
    key = str(uuid.uuid4())
    first = client.publish([content_id], [target(mybrand(client))], key)
    again = client.publish([content_id], [target(mybrand(client))], key)
    assert again.publish_id == first.publish_id
    assert first.status == "pending"
    assert [t.status for t in first.targets] == ["queued"]
    assert sandbox.state.publish_calls == 1
    assert sandbox.state.publish_requests[0]["idempotencyKey"] == key


def test_publish_status_follows_the_publish_to_its_end(client: PostQued, video: Path) -> None:
    account = mybrand(client)
    published = client.publish([upload_video(client, video)], [target(account)], str(uuid.uuid4()))
    deadline = time.monotonic() + 5.0
    state = client.publish_status(published.publish_id)
    while not state.settled and time.monotonic() < deadline:
        time.sleep(0.02)
        state = client.publish_status(published.publish_id)
    assert (state.publish_id, state.status) == (published.publish_id, "completed")
    [only] = state.targets
    assert (only.account_id, only.status, only.terminal) == (account.id, "published", True)
    assert only.post_id is not None and only.url == f"https://www.tiktok.com/@mybrand/video/{only.post_id}"


def test_cancel_publish_cancels_the_targets_of_a_scheduled_publish(client: PostQued, video: Path) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    scheduled = client.publish([upload_video(client, video)], [target(mybrand(client), dispatch_at=later)], "k-cancel")
    assert [t.status for t in scheduled.targets] == ["scheduled"]
    canceled = client.cancel_publish(scheduled.publish_id)
    assert canceled.status == "canceled"
    assert [t.status for t in canceled.targets] == ["canceled"]
    assert [t.status for t in client.publish_status(scheduled.publish_id).targets] == ["canceled"]


def test_v1_refuses_to_move_a_target_and_leaves_it_scheduled_and_v2_moves_it(
    client: PostQued, video: Path, api_mode: str
) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    scheduled = client.publish([upload_video(client, video)], [target(mybrand(client), dispatch_at=later)], "k-move")
    if api_mode == "v2":  # PATCH /v2/publish/target/{id}
        moved = client.reschedule(scheduled.publish_id, scheduled.targets[0].id, "2031-01-01T10:00:00Z")
        assert [(t.status, t.dispatch_at) for t in moved.targets] == [("scheduled", "2031-01-01T10:00:00Z")]
        return
    with pytest.raises(ApiRejected) as refused:
        client.reschedule(scheduled.publish_id, scheduled.targets[0].id, None)
    assert refused.value.code == "NOT_IN_V1"
    assert [t.status for t in client.publish_status(scheduled.publish_id).targets] == ["scheduled"]


def test_delete_content_marks_it_deleted(sandbox: Sandbox, client: PostQued, video: Path) -> None:
    content_id = upload_video(client, video)
    client.delete_content(content_id)
    assert sandbox.state.contents[content_id]["status"] == "deleted"


# --- errors mapped to the tree ---------------------------------------------------------


def test_an_unknown_key_is_account_blocked_with_code_unauthorized(
    sandbox: Sandbox, connect: Callable[..., PostQued]
) -> None:
    with pytest.raises(ApiAccountBlocked) as caught:
        connect(sandbox.url, key="pq_nobody").platform_accounts()
    assert (caught.value.status, caught.value.code) == (401, "UNAUTHORIZED")
    assert "Invalid API key" in str(caught.value)
    assert "pq_nobody" not in str(caught.value)


def test_a_revoked_key_is_account_blocked(sandbox: Sandbox, client: PostQued) -> None:
    sandbox.set_key(API_KEY, "revoked")
    with pytest.raises(ApiAccountBlocked) as caught:
        client.start_upload("clip.mp4", "video/mp4", 10)
    assert (caught.value.status, caught.value.code) == (401, "UNAUTHORIZED")


def test_subscription_required_is_account_blocked(sandbox: Sandbox, client: PostQued) -> None:
    sandbox.set_key(API_KEY, "subscription_required")
    with pytest.raises(ApiAccountBlocked) as caught:
        client.platform_accounts()
    assert (caught.value.status, caught.value.code) == (403, "SUBSCRIPTION_REQUIRED")
    assert "subscription" in str(caught.value)


def test_a_validation_error_is_rejected_with_the_apis_code_and_message(client: PostQued, api_mode: str) -> None:
    with pytest.raises(ApiRejected) as caught:
        client.start_upload("clip.avi", "video/x-msvideo", 10)
    assert (caught.value.status, caught.value.code) == (400, "VALIDATION_ERROR")
    assert "contentType is 'video/x-msvideo'; expected one of video/mp4" in caught.value.message
    assert caught.value.message.startswith(f"POST /{api_mode}/content/upload: ")


def test_an_unknown_publish_is_rejected_as_not_found(client: PostQued) -> None:
    with pytest.raises(ApiRejected) as caught:
        client.publish_status("no-such-publish")
    assert (caught.value.status, caught.value.code) == (404, "PUBLISH_NOT_FOUND")


def test_a_reused_idempotency_key_with_another_body_is_rejected_as_a_conflict(
    sandbox: Sandbox, client: PostQued, video: Path
) -> None:
    content_id = upload_video(client, video)
    client.publish([content_id], [target(mybrand(client), caption="first")], "k-reused")
    with pytest.raises(ApiRejected) as caught:
        client.publish([content_id], [target(mybrand(client), caption="second")], "k-reused")
    assert (caught.value.status, caught.value.code) == (409, "IDEMPOTENCY_CONFLICT")
    assert sandbox.state.publish_calls == 1


def test_a_4xx_is_not_retried(sandbox: Sandbox, client: PostQued) -> None:
    sandbox.faults.fail_next(2, status=400)
    with pytest.raises(ApiRejected):
        client.platform_accounts()
    assert [failure["remaining"] for failure in sandbox.state_summary()["faults"]["fail_next"]] == [1]


def test_a_burst_of_5xx_is_retried_until_the_call_succeeds(sandbox: Sandbox, connect: Callable[..., PostQued]) -> None:
    sleep = RecordingSleep()
    client = connect(sandbox.url, sleep=sleep)
    sandbox.faults.fail_next(2, status=503)
    assert len(client.platform_accounts()) == 3
    assert sandbox.state_summary()["faults"]["fail_next"] == []
    assert len(sleep.calls) == 2 and all(0.0 < pause <= FAST_RETRY.cap_seconds for pause in sleep.calls)


def test_more_5xx_than_attempts_is_unavailable(sandbox: Sandbox, client: PostQued) -> None:
    sandbox.faults.fail_next(FAST_RETRY.attempts, status=502)
    with pytest.raises(ApiUnavailable) as caught:
        client.publish_status("anything")
    assert caught.value.status == 502


def test_a_refused_connection_is_unavailable(connect: Callable[..., PostQued], api_mode: str) -> None:
    port = free_port()
    with pytest.raises(ApiUnavailable) as caught:
        connect(f"http://127.0.0.1:{port}").platform_accounts()
    first = "GET /v1/platform-accounts" if api_mode == "v1" else "GET /v2/mcp/context"  # v2 checks the workspace first
    assert str(caught.value).startswith(f"{first}: cannot reach http://127.0.0.1:{port}")
    assert "ConnectError" in str(caught.value)
    assert API_KEY not in str(caught.value)


# --- rate limits -----------------------------------------------------------------------


def one_read(client: PostQued, number: int) -> int:
    """One read request that goes out every time (no cache): the status of a publish that is not there."""
    with pytest.raises(ApiRejected) as caught:
        client.publish_status(f"none-{number}")
    return caught.value.status or 0


def test_a_429_from_the_server_holds_the_category_then_the_call_succeeds(
    connect: Callable[..., PostQued], api_mode: str,
) -> None:
    sleep = RecordingSleep()
    limiter = RateLimiter({**GENEROUS, "read": 100}, 1.0, sleep=sleep)
    with Sandbox(api_keys=(API_KEY,), rate_limits={"read": 2}, window_seconds=1.0, api=api_mode) as server:
        client = connect(server.url, limiter=limiter)
        started = time.monotonic()
        for call in range(3):
            one_read(client, call)
        elapsed = time.monotonic() - started
        assert server.state.rate_limited_count == 1
    # Retry-After: 1 put the read bucket on hold for a second before the retry.
    assert sum(sleep.calls) >= 0.9
    assert elapsed >= 0.9


def test_the_clients_buckets_keep_it_under_the_servers_limits(connect: Callable[..., PostQued], api_mode: str) -> None:
    # A continuously refilled token bucket would send a 4th read ~0.33 s in and meet a 429.
    window, limit, calls = 1.0, 3, 7
    limiter = RateLimiter({**GENEROUS, "read": limit}, window)
    with Sandbox(api_keys=(API_KEY,), rate_limits={"read": limit}, window_seconds=window, api=api_mode) as server:
        client = connect(server.url, limiter=limiter)
        started = time.monotonic()
        answers = [one_read(client, call) for call in range(calls)]
        elapsed = time.monotonic() - started
        assert server.state.rate_limited_count == 0
    assert answers == [404] * calls  # each call did go out
    assert elapsed >= 2 * window  # 7 reads at 3 per window need two full windows


# --- storage: no credentials, exact headers, nothing secret in messages -------------------


def test_the_storage_put_carries_no_authorization_and_a_content_length(
    storage: StorageStub, client: PostQued, blob: Path
) -> None:
    size = blob.stat().st_size
    client.put_to_storage(stub_ticket(storage), blob, size)
    [request] = storage.requests
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert "authorization" not in headers
    assert API_KEY not in repr(request["headers"])
    assert headers["content-length"] == str(size)
    assert "transfer-encoding" not in headers
    assert headers["content-type"] == "video/mp4"
    assert (request["received"], request["sha256"]) == (size, sha256_of(blob))


def test_a_storage_5xx_is_retried_with_the_whole_file(storage: StorageStub, client: PostQued, blob: Path) -> None:
    storage.statuses = [503]
    size = blob.stat().st_size
    client.put_to_storage(stub_ticket(storage), blob, size)
    assert [(request["received"], request["sha256"]) for request in storage.requests] == [(size, sha256_of(blob))] * 2


def test_a_storage_refusal_names_the_file_and_the_reason_but_no_secret(
    storage: StorageStub, client: PostQued, blob: Path
) -> None:
    # S3 echoes the signature it was given in SignatureDoesNotMatch errors.
    storage.statuses = [403]
    storage.error_body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>'
        b"<Message>Signature mismatch</Message>"
        b"<SignatureProvided>" + SIGNATURE.encode() + b"</SignatureProvided>"
        b"<StringToSign>PUT\nvideo/mp4\n" + SIGNATURE.encode() + b"</StringToSign></Error>"
    )
    ticket = stub_ticket(storage)
    with pytest.raises(ApiRejected) as caught:
        client.put_to_storage(ticket, blob, blob.stat().st_size)
    message = str(caught.value)
    assert (caught.value.status, caught.value.code) == (403, "STORAGE_REFUSED")
    assert blob.name in message and "SignatureDoesNotMatch" in message
    assert API_KEY not in message
    assert SIGNATURE not in message
    assert ticket.url.partition("?")[2] not in message
    assert len(storage.requests) == 1


def test_a_broken_storage_connection_is_unavailable_without_the_signed_url(
    client: PostQued, blob: Path
) -> None:
    port = free_port()
    ticket = UploadTicket("c1", "k", f"http://127.0.0.1:{port}/b/k?X-Pq-Signature={SIGNATURE}", "PUT", {})
    with pytest.raises(ApiUnavailable) as caught:
        client.put_to_storage(ticket, blob, blob.stat().st_size)
    message = str(caught.value)
    assert blob.name in message
    assert SIGNATURE not in message and API_KEY not in message


def test_a_refused_storage_put_names_the_code_and_message_of_the_s3_error(
    sandbox: Sandbox, client: PostQued, video: Path
) -> None:
    size = video.stat().st_size
    ticket = client.start_upload(video.name, "video/mp4", size)
    unsigned = UploadTicket(ticket.content_id, ticket.key, ticket.url, "PUT", {"Content-Type": "video/quicktime"})
    with pytest.raises(ApiRejected) as caught:
        client.put_to_storage(unsigned, video, size)
    assert str(caught.value) == (
        f"storage refused the upload of {video.name}: HTTP 403 SignatureDoesNotMatch: The request signature we "
        "calculated does not match the signature you provided: Content-Type 'video/quicktime' is not the signed "
        "'video/mp4'"
    )
    assert sandbox.state.contents[ticket.content_id]["status"] == "awaiting_upload"


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
         "AccessDenied: Request has expired"),
        (400, '{"code": "BAD_DIGEST", "error": "Checksum &amp; size differ"}',
         "BAD_DIGEST: Checksum &amp; size differ"),
        (400, "<Error><Code>A&amp;B</Code></Error>", "A&B"),
        (404, "<html>Not here: ?X-Pq-Signature=abcdef0123456789</html>", "Not Found"),
        (499, "", "no reason given"),
        (403, "<Error><Message>bad sig abcdef0123456789</Message></Error>", "bad sig [redacted]"),
    ],
)
def test_storage_reason_keeps_only_the_code_and_message(status: int, body: str, reason: str) -> None:
    url = "http://storage/k?X-Pq-Expires=99&X-Pq-Signature=abcdef0123456789"
    assert storage_reason(status, body, url) == reason


def test_a_base_url_with_a_bad_port_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        PostQued("http://127.0.0.1:80 (API key pq_sandbox)", API_KEY, limiter=RateLimiter(GENEROUS))
    assert caught.value.message.startswith(
        "postqued.base_url 'http://127.0.0.1:80 (API key pq_sandbox)' is not a usable URL"
    )
    assert API_KEY not in caught.value.message
