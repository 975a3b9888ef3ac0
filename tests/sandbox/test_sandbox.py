"""The sandbox PostQued: pure rules first, then every endpoint over real HTTP on loopback."""

from __future__ import annotations

import hashlib
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from pqdrop.sandbox import Sandbox
from pqdrop.sandbox.instants import format_instant
from pqdrop.sandbox.multipart import MultipartError, MultipartParser, PartInfo
from pqdrop.sandbox.progress import Timeline, request_status
from pqdrop.sandbox.ratelimit import SlidingWindow
from pqdrop.sandbox.validation import sniff_image_type

API_KEY = "pq_sandbox"
CONTROL = {"Authorization": f"Bearer {API_KEY}"}  # the /_sandbox control routes take a key the sandbox knows
SECOND_KEY = "pq_second"
START = 1_800_000_000.0  # 2027-01-15, a fixed "now" for the fake clock
STEP = 10.0
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
JPEG = b"\xff\xd8\xff\xe0" + bytes(200)
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(200)


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sandbox(clock: FakeClock) -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with the fake clock by default; all are stopped at teardown."""
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        options = {"clock": clock, "processing_seconds": STEP, "api_keys": (API_KEY, SECOND_KEY), **options}
        sandbox = Sandbox(**options).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(make_sandbox: Callable[..., Sandbox]) -> Sandbox:
    return make_sandbox()


@pytest.fixture
def api(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with client_for(sandbox) as client:
        yield client


@pytest.fixture
def bare() -> Iterator[httpx.Client]:
    """A client without the API key, as presigned PUTs and /_sandbox controls need."""
    with loopback_client() as client:
        yield client


def loopback_client(**options: Any) -> httpx.Client:
    # Plain HTTP on loopback: skip loading the CA bundle, which costs ~50 ms per client.
    return httpx.Client(timeout=10, verify=False, **options)


def client_for(sandbox: Sandbox, key: str = API_KEY) -> httpx.Client:
    return loopback_client(base_url=sandbox.url, headers={"Authorization": f"Bearer {key}"})


def begin_upload(api: httpx.Client, size: int, content_type: str = "video/mp4") -> dict[str, Any]:
    reply = api.post("/v1/content/upload", json={"filename": "clip.mp4", "contentType": content_type, "fileSize": size})
    assert reply.status_code == 201, reply.text
    session: dict[str, Any] = reply.json()
    return session


def complete_body(session: dict[str, Any], size: int, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {
        "contentId": session["contentId"],
        "key": session["key"],
        "filename": "clip.mp4",
        "contentType": "video/mp4",
        "size": size,
        "width": 1080,
        "height": 1920,
        "durationMs": 15000,
    }
    return {**body, **(changes or {})}


def upload_video(api: httpx.Client, bare: httpx.Client, data: bytes = b"fake mp4 bytes") -> str:
    session = begin_upload(api, len(data))
    put = bare.put(session["upload"]["url"], content=data, headers=session["upload"]["headers"])
    assert put.status_code == 200, put.text
    done = api.post("/v1/content/upload/complete", json=complete_body(session, len(data)))
    assert done.status_code == 200, done.text
    return str(session["contentId"])


def upload_image(api: httpx.Client, data: bytes = PNG, content_type: str = "image/png") -> httpx.Response:
    return api.post("/v1/content/upload-image", files={"file": ("photo.png", data, content_type)})


def account_id(api: httpx.Client, username: str) -> str:
    accounts = api.get("/v1/platform-accounts", params={"platform": "tiktok"}).json()["accounts"]
    return next(str(account["id"]) for account in accounts if account["username"] == username)


def publish_body(content_ids: list[str], *accounts: str, intent: str = "publish", **target: Any) -> dict[str, Any]:
    targets = [
        {
            "platform": "tiktok",
            "accountId": account,
            "intent": intent,
            "caption": "Hello #fyp",
            "dispatchAt": None,
            "options": {"privacyLevel": "SELF_ONLY", "disableDuet": False},
            **target,
        }
        for account in accounts
    ]
    return {"contentIds": content_ids, "targets": targets}


def publish(api: httpx.Client, body: dict[str, Any], key: str | None = "key-1") -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return api.post("/v1/content/publish", json=body, headers=headers)


@pytest.fixture
def video(api: httpx.Client, bare: httpx.Client) -> str:
    return upload_video(api, bare)


@pytest.fixture
def mybrand(api: httpx.Client) -> str:
    return account_id(api, "@mybrand")


# -- pure rules ------------------------------------------------------------------------


def test_timeline_goes_queued_then_processing_then_outcome() -> None:
    timeline = Timeline(created_at=100.0, dispatch_at=None, step_seconds=5.0, outcome="published")
    assert [timeline.status_at(t) for t in (100.0, 104.9, 105.0, 109.9, 110.0)] == [
        "queued",
        "queued",
        "processing",
        "processing",
        "published",
    ]


def test_timeline_with_future_dispatch_is_scheduled_until_then() -> None:
    timeline = Timeline(created_at=100.0, dispatch_at=200.0, step_seconds=5.0, outcome="sent")
    assert timeline.initial_status() == "scheduled"
    assert [timeline.status_at(t) for t in (199.0, 200.0, 205.0, 210.0)] == [
        "scheduled",
        "queued",
        "processing",
        "sent",
    ]


def test_timeline_canceled_while_open_stays_canceled() -> None:
    timeline = Timeline(created_at=100.0, dispatch_at=None, step_seconds=5.0, outcome="published", canceled_at=106.0)
    assert [timeline.status_at(t) for t in (105.0, 106.0, 500.0)] == ["processing", "canceled", "canceled"]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["queued", "scheduled"], "pending"),
        (["processing", "queued"], "processing"),
        (["published", "scheduled"], "processing"),
        (["published", "sent"], "completed"),
        (["published", "failed"], "partial_failed"),
        (["failed", "failed"], "failed"),
        (["canceled", "canceled"], "canceled"),
        (["published", "canceled"], "completed"),
    ],
)
def test_request_status_follows_target_statuses(statuses: list[str], expected: str) -> None:
    assert request_status(statuses) == expected


def test_sliding_window_refusal_does_not_use_quota() -> None:
    window = SlidingWindow({"read": 2}, window_seconds=10.0)
    assert [window.take("k", "read", now).allowed for now in (0.0, 1.0, 2.0, 3.0)] == [True, True, False, False]
    refused = window.take("k", "read", 9.5)
    assert (refused.allowed, refused.remaining, refused.reset_seconds, refused.retry_after) == (False, 0, 0.5, 1)
    assert window.take("k", "read", 10.0).allowed  # the request at 0.0 left the window; refusals never entered it


def test_multipart_parser_reads_parts_fed_one_byte_at_a_time() -> None:
    body = (
        b'preamble\r\n--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n\r\n--Xy not yet\r\n--XyZ--\r\nepilogue"
    )
    received: dict[str, bytearray] = {}
    infos: list[PartInfo] = []

    def open_part(info: PartInfo) -> Callable[[bytes], None]:
        infos.append(info)
        return received.setdefault(info.name, bytearray()).extend

    parser = MultipartParser(b"XyZ", open_part)
    for index in range(len(body)):
        parser.feed(body[index : index + 1])
    parser.close()
    assert received == {"note": bytearray(b"hi"), "file": bytearray(b"\r\n--Xy not yet")}
    assert infos[1] == PartInfo("file", "a.png", "image/png")


def test_multipart_parser_refuses_a_body_without_closing_boundary() -> None:
    parser = MultipartParser(b"b", lambda info: lambda chunk: None)
    parser.feed(b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\ndata')
    with pytest.raises(MultipartError, match="closing"):
        parser.close()


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (WEBP, "image/webp"),
        (b"GIF89a", None),
        (b"\x00\x00\x00 ftypmp4", None),
    ],
)
def test_sniff_image_type_trusts_magic_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_image_type(head[:16]) == expected


# -- accounts, docs, routing -----------------------------------------------------------


def test_accounts_lists_three_tiktok_accounts_with_stable_ids(
    api: httpx.Client, make_sandbox: Callable[..., Sandbox]
) -> None:
    reply = api.get("/v1/platform-accounts", params={"platform": "tiktok"})
    accounts = reply.json()["accounts"]
    assert [account["username"] for account in accounts] == ["@mybrand", "@otherbrand", "@failing"]
    assert all(account["id"].startswith("acc_") and account["platform"] == "tiktok" for account in accounts)
    with client_for(make_sandbox()) as other:
        assert other.get("/v1/platform-accounts").json()["accounts"] == accounts


def test_accounts_of_another_platform_is_an_empty_list(api: httpx.Client) -> None:
    assert api.get("/v1/platform-accounts", params={"platform": "instagram"}).json() == {"accounts": []}


def test_openapi_document_is_served_without_a_key(sandbox: Sandbox, bare: httpx.Client) -> None:
    document = bare.get(f"{sandbox.url}/v1/docs/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert "post" in document["paths"]["/v1/content/publish"]


def test_unknown_path_is_404_not_found(api: httpx.Client) -> None:
    reply = api.get("/v1/nothing-here")
    assert (reply.status_code, reply.json()["code"]) == (404, "NOT_FOUND")


def test_wrong_method_is_405_with_allow_header(api: httpx.Client) -> None:
    reply = api.get("/v1/content/upload")
    assert (reply.status_code, reply.json()["code"], reply.headers["Allow"]) == (405, "METHOD_NOT_ALLOWED", "POST")


# -- auth --------------------------------------------------------------------------------


def test_missing_key_is_401_unauthorized(sandbox: Sandbox, bare: httpx.Client) -> None:
    reply = bare.get(f"{sandbox.url}/v1/platform-accounts")
    assert reply.status_code == 401
    assert reply.json()["code"] == "UNAUTHORIZED" and reply.json()["error"]


def test_unknown_key_is_401_unauthorized(sandbox: Sandbox) -> None:
    with client_for(sandbox, "pq_unknown") as client:
        reply = client.get("/v1/platform-accounts")
    assert (reply.status_code, reply.json()["code"]) == (401, "UNAUTHORIZED")


def test_revoked_key_is_401_until_set_ok_again(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.set_key(API_KEY, "revoked")
    refused = api.get("/v1/platform-accounts")
    sandbox.set_key(API_KEY, "ok")
    assert (refused.status_code, refused.json()["code"]) == (401, "UNAUTHORIZED")
    assert api.get("/v1/platform-accounts").status_code == 200


def test_key_without_subscription_is_403_subscription_required(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.set_key(API_KEY, "subscription_required")
    reply = api.get("/v1/platform-accounts")
    assert (reply.status_code, reply.json()["code"]) == (403, "SUBSCRIPTION_REQUIRED")
    assert "subscription is required" in reply.json()["error"]


# -- video upload ------------------------------------------------------------------------


def test_upload_presigns_a_put_for_the_content_key(sandbox: Sandbox, api: httpx.Client) -> None:
    session = begin_upload(api, 1234)
    upload = session["upload"]
    assert session["key"].startswith("content/usr_") and session["key"].endswith(f"/{session['contentId']}.mp4")
    assert upload["url"].startswith(f"{sandbox.url}/storage/{session['key']}?")
    assert (upload["method"], upload["headers"], upload["key"]) == (
        "PUT",
        {"Content-Type": "video/mp4"},
        session["key"],
    )
    assert upload["expiresAt"] == format_instant(START + 900)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contentType": "video/x-msvideo"}, "contentType"),
        ({"fileSize": 0}, "fileSize"),
        ({"fileSize": 4 * 1024**3 + 1}, "fileSize"),
        ({"fileSize": True}, "fileSize"),
        ({"filename": ""}, "filename"),
        ({"filename": "../etc/passwd"}, "filename"),
    ],
)
def test_upload_refuses_a_bad_field_by_name(api: httpx.Client, change: dict[str, Any], field: str) -> None:
    body = {"filename": "clip.mp4", "contentType": "video/mp4", "fileSize": 10, **change}
    reply = api.post("/v1/content/upload", json=body)
    assert (reply.status_code, reply.json()["code"]) == (400, "VALIDATION_ERROR")
    assert reply.json()["error"].startswith(field)


def test_presigned_put_records_size_and_sha256(sandbox: Sandbox, api: httpx.Client, bare: httpx.Client) -> None:
    content_id = upload_video(api, bare, b"0123456789")
    content = sandbox.state.contents[content_id]
    assert (content["receivedSize"], content["status"]) == (10, "ready")
    assert content["sha256"] == hashlib.sha256(b"0123456789").hexdigest()


def test_presigned_put_refuses_an_authorization_header(sandbox: Sandbox, bare: httpx.Client, api: httpx.Client) -> None:
    session = begin_upload(api, 4)
    headers = {**session["upload"]["headers"], "Authorization": f"Bearer {API_KEY}"}
    reply = bare.put(session["upload"]["url"], content=b"data", headers=headers)
    assert reply.status_code == 403
    assert "<Code>AccessDenied</Code>" in reply.text
    assert sandbox.state.contents[session["contentId"]]["receivedSize"] is None


def test_presigned_put_refuses_another_content_type(api: httpx.Client, bare: httpx.Client) -> None:
    session = begin_upload(api, 4)
    reply = bare.put(session["upload"]["url"], content=b"data", headers={"Content-Type": "application/octet-stream"})
    assert reply.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in reply.text and "Content-Type" in reply.text


def test_presigned_put_refuses_a_body_of_another_length(api: httpx.Client, bare: httpx.Client) -> None:
    session = begin_upload(api, 4)
    reply = bare.put(session["upload"]["url"], content=b"longer data", headers=session["upload"]["headers"])
    assert reply.status_code == 403
    assert "Content-Length 11 is not the signed fileSize 4" in reply.text
    # The refused body was read away, so the same connection serves the next request.
    assert bare.put(session["upload"]["url"], content=b"data", headers=session["upload"]["headers"]).status_code == 200


def test_presigned_put_refuses_a_tampered_signature(api: httpx.Client, bare: httpx.Client) -> None:
    session = begin_upload(api, 4)
    url = session["upload"]["url"][:-4] + "0000"
    reply = bare.put(url, content=b"data", headers=session["upload"]["headers"])
    assert reply.status_code == 403 and "<Code>SignatureDoesNotMatch</Code>" in reply.text


def test_presigned_put_refuses_an_expired_url(clock: FakeClock, api: httpx.Client, bare: httpx.Client) -> None:
    session = begin_upload(api, 4)
    clock.advance(901)
    reply = bare.put(session["upload"]["url"], content=b"data", headers=session["upload"]["headers"])
    assert reply.status_code == 403 and "Request has expired" in reply.text


def test_presigned_put_without_content_length_is_411(api: httpx.Client, bare: httpx.Client) -> None:
    session = begin_upload(api, 4)
    reply = bare.put(session["upload"]["url"], content=iter([b"da", b"ta"]), headers=session["upload"]["headers"])
    assert reply.status_code == 411 and "<Code>MissingContentLength</Code>" in reply.text


def test_large_upload_streams_without_holding_the_file(
    sandbox: Sandbox, api: httpx.Client, bare: httpx.Client, tmp_path: Path
) -> None:
    path, size, digest = tmp_path / "big.mp4", 50 * 1024 * 1024, hashlib.sha256()
    block = bytes(range(256)) * 4096
    with path.open("wb") as file:
        for index in range(size // len(block)):
            chunk = index.to_bytes(4, "big") + block[4:]
            digest.update(chunk)
            file.write(chunk)
    session = begin_upload(api, size)
    tracemalloc.start()
    try:
        with path.open("rb") as file:
            reply = bare.put(session["upload"]["url"], content=file, headers=session["upload"]["headers"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reply.status_code == 200
    assert peak < 16 * 1024 * 1024
    content = sandbox.state.contents[session["contentId"]]
    assert (content["receivedSize"], content["sha256"]) == (size, digest.hexdigest())


def test_storage_dir_keeps_the_bytes_under_the_key(
    make_sandbox: Callable[..., Sandbox], bare: httpx.Client, tmp_path: Path
) -> None:
    sandbox = make_sandbox(storage_dir=tmp_path)
    with client_for(sandbox) as api:
        content_id = upload_video(api, bare, b"kept bytes")
        key = sandbox.state.contents[content_id]["key"]
        assert (tmp_path / key).read_bytes() == b"kept bytes"
        assert api.delete(f"/v1/content/{content_id}").status_code == 200
    assert not (tmp_path / key).exists()


def test_complete_marks_ready_and_may_be_repeated(api: httpx.Client, bare: httpx.Client) -> None:
    session = begin_upload(api, 5)
    bare.put(session["upload"]["url"], content=b"12345", headers=session["upload"]["headers"])
    first = api.post("/v1/content/upload/complete", json=complete_body(session, 5))
    second = api.post("/v1/content/upload/complete", json=complete_body(session, 5))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["status"] == "ready" and second.json()["durationMs"] == 15000


@pytest.mark.parametrize(
    ("upload", "change", "message"),
    [
        (False, {}, "nothing was uploaded"),
        (True, {"size": 6}, "size 6 differs from the 5 bytes received"),
        (True, {"key": "content/someone/else.mp4"}, "key 'content/someone/else.mp4' does not belong"),
        (True, {"durationMs": None}, "durationMs must be a positive integer"),
        (True, {"width": 0}, "width must be a positive integer"),
    ],
)
def test_complete_refuses_a_mismatch_by_name(
    api: httpx.Client, bare: httpx.Client, upload: bool, change: dict[str, Any], message: str
) -> None:
    session = begin_upload(api, 5)
    if upload:
        bare.put(session["upload"]["url"], content=b"12345", headers=session["upload"]["headers"])
    reply = api.post("/v1/content/upload/complete", json=complete_body(session, 5, change))
    assert (reply.status_code, reply.json()["code"]) == (400, "VALIDATION_ERROR")
    assert message in reply.json()["error"]


def test_delete_content_then_it_is_gone(api: httpx.Client, video: str, mybrand: str) -> None:
    deleted = api.delete(f"/v1/content/{video}")
    again = api.delete(f"/v1/content/{video}")
    refused = publish(api, publish_body([video], mybrand))
    assert (deleted.status_code, deleted.json()["deleted"]) == (200, True)
    assert (again.status_code, again.json()["code"]) == (404, "CONTENT_NOT_FOUND")
    assert (refused.status_code, refused.json()["code"]) == (400, "CONTENT_NOT_FOUND")


# -- image upload ------------------------------------------------------------------------


def test_upload_image_accepts_a_png_and_is_ready(sandbox: Sandbox, api: httpx.Client) -> None:
    reply = upload_image(api)
    assert reply.status_code == 201
    content = sandbox.state.contents[reply.json()["contentId"]]
    assert (content["status"], content["contentType"], content["filename"]) == ("ready", "image/png", "photo.png")
    assert content["sha256"] == hashlib.sha256(PNG).hexdigest()


def test_upload_image_refuses_text_declared_as_jpeg(api: httpx.Client) -> None:
    reply = upload_image(api, b"this is not an image at all", "image/jpeg")
    assert (reply.status_code, reply.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_upload_image_refuses_a_png_declared_as_jpeg(api: httpx.Client) -> None:
    reply = upload_image(api, PNG, "image/jpeg")
    assert reply.status_code == 415 and "declared as image/jpeg but the bytes are image/png" in reply.json()["error"]


def test_upload_image_refuses_more_than_20_mb_with_413(api: httpx.Client) -> None:
    reply = upload_image(api, PNG + bytes(21 * 1024 * 1024))
    assert (reply.status_code, reply.json()["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert api.get("/v1/platform-accounts").status_code == 200  # the connection survived


def test_upload_image_without_file_field_is_400(api: httpx.Client) -> None:
    reply = api.post("/v1/content/upload-image", files={"photo": ("a.png", PNG, "image/png")})
    assert reply.status_code == 400 and "no 'file' part" in reply.json()["error"]


# -- publish -----------------------------------------------------------------------------


def test_publish_replies_pending_with_queued_targets(
    sandbox: Sandbox, api: httpx.Client, video: str, mybrand: str
) -> None:
    reply = publish(api, publish_body([video], mybrand))
    body = reply.json()
    assert (reply.status_code, body["status"], body["contentIds"]) == (201, "pending", [video])
    assert [(t["accountId"], t["status"], t["dispatchAt"]) for t in body["targets"]] == [(mybrand, "queued", None)]
    assert sandbox.state.publish_calls == 1
    recorded = sandbox.state.publish_requests[0]
    assert (recorded["publishId"], recorded["idempotencyKey"]) == (body["publishId"], "key-1")
    assert recorded["body"] == publish_body([video], mybrand)


def test_publish_without_idempotency_key_is_400(sandbox: Sandbox, api: httpx.Client, video: str, mybrand: str) -> None:
    reply = publish(api, publish_body([video], mybrand), key=None)
    assert (reply.status_code, reply.json()["code"]) == (400, "MISSING_IDEMPOTENCY_KEY")
    assert sandbox.state.publish_calls == 0


def test_same_key_and_body_replays_the_first_reply(
    sandbox: Sandbox, api: httpx.Client, video: str, mybrand: str
) -> None:
    first = publish(api, publish_body([video], mybrand))
    replay = publish(api, publish_body([video], mybrand))
    assert (replay.status_code, replay.content) == (first.status_code, first.content)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert sandbox.state.publish_calls == 1 and len(sandbox.state.publish_requests) == 1


def test_same_key_with_another_body_is_409_conflict(api: httpx.Client, video: str, mybrand: str) -> None:
    publish(api, publish_body([video], mybrand))
    reply = publish(api, publish_body([video], mybrand, caption="changed"))
    assert (reply.status_code, reply.json()["code"]) == (409, "IDEMPOTENCY_CONFLICT")


def test_idempotency_key_is_scoped_to_the_api_key(
    sandbox: Sandbox, bare: httpx.Client, api: httpx.Client, video: str, mybrand: str
) -> None:
    publish(api, publish_body([video], mybrand))
    with client_for(sandbox, SECOND_KEY) as second:
        other_video = upload_video(second, bare)
        reply = publish(second, publish_body([other_video], mybrand))
    assert reply.status_code == 201 and sandbox.state.publish_calls == 2


def test_idempotency_key_is_forgotten_after_24_hours(
    sandbox: Sandbox, clock: FakeClock, api: httpx.Client, video: str, mybrand: str
) -> None:
    first = publish(api, publish_body([video], mybrand))
    clock.advance(24 * 3600 + 1)
    later = publish(api, publish_body([video], mybrand))
    assert later.json()["publishId"] != first.json()["publishId"] and sandbox.state.publish_calls == 2


def test_concurrent_retries_with_one_key_create_one_publish(
    sandbox: Sandbox, api: httpx.Client, video: str, mybrand: str
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda _: publish(api, publish_body([video], mybrand)), range(8)))
    assert {reply.json()["publishId"] for reply in replies} == {replies[0].json()["publishId"]}
    assert sandbox.state.publish_calls == 1


def test_publish_accepts_a_carousel_of_images(api: httpx.Client, mybrand: str) -> None:
    kinds = ((PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp"))
    images = [upload_image(api, data, content_type).json()["contentId"] for data, content_type in kinds]
    reply = publish(api, publish_body(images, mybrand, intent="draft", options={"autoAddMusic": True}))
    assert reply.status_code == 201 and reply.json()["contentIds"] == images


def test_publish_refuses_more_than_35_images(sandbox: Sandbox, api: httpx.Client, mybrand: str) -> None:
    digest = hashlib.sha256(PNG).hexdigest()
    images = [
        sandbox.state.add_image(API_KEY, f"{n}.png", "image/png", len(PNG), digest)["contentId"] for n in range(36)
    ]
    reply = publish(api, publish_body(images, mybrand))
    assert reply.status_code == 400 and "at most 35 images" in reply.json()["error"]


def test_publish_refuses_a_video_mixed_with_images(api: httpx.Client, video: str, mybrand: str) -> None:
    image = upload_image(api).json()["contentId"]
    reply = publish(api, publish_body([video, image], mybrand))
    assert reply.status_code == 400 and "not a mix" in reply.json()["error"]


def test_publish_refuses_an_unfinished_upload(api: httpx.Client, mybrand: str) -> None:
    session = begin_upload(api, 5)
    reply = publish(api, publish_body([session["contentId"]], mybrand))
    assert (reply.status_code, reply.json()["code"]) == (400, "CONTENT_NOT_READY")


BAD_TARGETS: list[tuple[dict[str, Any], str, str]] = [
    ({"accountId": "acc_nobody"}, "ACCOUNT_NOT_FOUND", "targets[0].accountId"),
    ({"accountId": "@mybrand"}, "ACCOUNT_NOT_FOUND", "targets[0].accountId"),
    ({"platform": "instagram"}, "VALIDATION_ERROR", "targets[0].platform"),
    ({"intent": "post"}, "VALIDATION_ERROR", "targets[0].intent"),
    ({"caption": "x" * 2201}, "invalid_param", "targets[0].caption"),  # TikTok's init refuses it (issue 13)
    ({"caption": "x" * 63207}, "VALIDATION_ERROR", "targets[0].caption"),
    ({"options": {"privacyLevel": "EVERYONE"}}, "VALIDATION_ERROR", "targets[0].options.privacyLevel"),
    ({"options": {"disableDuet": "yes"}}, "VALIDATION_ERROR", "targets[0].options.disableDuet"),
    ({"options": {"videoCoverTimestampMs": -1}}, "VALIDATION_ERROR", "targets[0].options.videoCoverTimestampMs"),
    ({"options": {"allowRemix": True}}, "VALIDATION_ERROR", "targets[0].options: unknown field 'allowRemix'"),
    ({"dispatchAt": "2027-01-15T08:00:00"}, "VALIDATION_ERROR", "targets[0].dispatchAt"),
    ({"dispatchAt": "tomorrow"}, "VALIDATION_ERROR", "targets[0].dispatchAt"),
    ({"dispatchAt": format_instant(START - 120)}, "VALIDATION_ERROR", "targets[0].dispatchAt"),
    ({"schedule": "now"}, "VALIDATION_ERROR", "targets[0]: unknown field 'schedule'"),
]


@pytest.mark.parametrize(("change", "code", "field"), BAD_TARGETS)
def test_publish_refuses_a_bad_target_naming_the_field(
    sandbox: Sandbox, api: httpx.Client, video: str, mybrand: str, change: dict[str, Any], code: str, field: str
) -> None:
    reply = publish(api, publish_body([video], mybrand, **change))
    assert (reply.status_code, reply.json()["code"]) == (400, code)
    assert reply.json()["error"].startswith(field)
    assert sandbox.state.publish_calls == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contentIds": [], "targets": []}, "contentIds"),
        ({"contentIds": ["a", "a"], "targets": []}, "contentIds"),
        ({"contentIds": ["a"], "targets": []}, "targets"),
    ],
)
def test_publish_refuses_empty_or_repeated_lists(api: httpx.Client, body: dict[str, Any], field: str) -> None:
    reply = publish(api, body)
    assert reply.status_code == 400 and reply.json()["error"].startswith(field)


def test_publish_refuses_an_unknown_content_id(api: httpx.Client, mybrand: str) -> None:
    reply = publish(api, publish_body(["no-such-content"], mybrand))
    assert (reply.status_code, reply.json()["code"]) == (400, "CONTENT_NOT_FOUND")


# -- status progression ------------------------------------------------------------------


def publish_status(api: httpx.Client, publish_id: str) -> dict[str, Any]:
    reply = api.get(f"/v1/content/publish/{publish_id}")
    assert reply.status_code == 200, reply.text
    status: dict[str, Any] = reply.json()
    return status


def test_publish_moves_to_published_with_a_post_url(
    clock: FakeClock, api: httpx.Client, video: str, mybrand: str
) -> None:
    publish_id = publish(api, publish_body([video], mybrand)).json()["publishId"]
    seen = []
    for _ in range(3):
        status = publish_status(api, publish_id)
        seen.append((status["status"], status["targets"][0]["status"]))
        clock.advance(STEP)
    assert seen == [("pending", "queued"), ("processing", "processing"), ("completed", "published")]
    target = status["targets"][0]
    assert target["url"] == f"https://www.tiktok.com/@mybrand/video/{target['postId']}"


def test_draft_intent_ends_sent_to_the_inbox(clock: FakeClock, api: httpx.Client, video: str, mybrand: str) -> None:
    publish_id = publish(api, publish_body([video], mybrand, intent="draft")).json()["publishId"]
    clock.advance(2 * STEP)
    status = publish_status(api, publish_id)
    assert (status["status"], status["targets"][0]["status"]) == ("completed", "sent")
    assert "url" not in status["targets"][0]


def test_failing_account_ends_failed_with_a_reason(clock: FakeClock, api: httpx.Client, video: str) -> None:
    publish_id = publish(api, publish_body([video], account_id(api, "@failing"))).json()["publishId"]
    clock.advance(2 * STEP)
    status = publish_status(api, publish_id)
    target = status["targets"][0]
    assert (status["status"], target["status"]) == ("failed", "failed")
    assert target["reason"] == "TikTok rejected the video: spam risk"
    assert target["error"] == {"code": "PLATFORM_REJECTED", "message": "TikTok rejected the video: spam risk"}


def test_one_failing_target_of_two_is_partial_failed(
    clock: FakeClock, api: httpx.Client, video: str, mybrand: str
) -> None:
    body = publish_body([video], mybrand, account_id(api, "@failing"))
    publish_id = publish(api, body).json()["publishId"]
    clock.advance(2 * STEP)
    status = publish_status(api, publish_id)
    assert status["status"] == "partial_failed"
    assert [target["status"] for target in status["targets"]] == ["published", "failed"]


def test_future_dispatch_is_scheduled_until_dispatch_at(
    clock: FakeClock, api: httpx.Client, video: str, mybrand: str
) -> None:
    dispatch = "2027-01-15T09:00:00Z"
    assert format_instant(START + 3600) == dispatch
    reply = publish(api, publish_body([video], mybrand, dispatchAt=dispatch.replace("Z", "+00:00")))
    assert reply.json()["targets"][0] == {**reply.json()["targets"][0], "status": "scheduled", "dispatchAt": dispatch}
    publish_id = reply.json()["publishId"]
    clock.advance(3599)
    assert publish_status(api, publish_id)["targets"][0]["status"] == "scheduled"
    clock.advance(1)
    assert publish_status(api, publish_id)["targets"][0]["status"] == "queued"
    clock.advance(2 * STEP)
    assert publish_status(api, publish_id)["status"] == "completed"


def test_cancel_marks_open_targets_canceled(clock: FakeClock, api: httpx.Client, video: str, mybrand: str) -> None:
    body = publish_body([video], mybrand, dispatchAt=format_instant(START + 3600))
    publish_id = publish(api, body).json()["publishId"]
    reply = api.delete(f"/v1/content/publish/{publish_id}")
    assert (reply.status_code, reply.json()["status"], reply.json()["targets"][0]["status"]) == (
        200,
        "canceled",
        "canceled",
    )
    clock.advance(7200)
    assert publish_status(api, publish_id)["status"] == "canceled"


def test_cancel_after_it_finished_is_409(clock: FakeClock, api: httpx.Client, video: str, mybrand: str) -> None:
    publish_id = publish(api, publish_body([video], mybrand)).json()["publishId"]
    clock.advance(2 * STEP)
    reply = api.delete(f"/v1/content/publish/{publish_id}")
    assert (reply.status_code, reply.json()["code"]) == (409, "NOT_CANCELABLE")


def test_cancel_once_a_target_is_processing_is_409_and_changes_nothing(
    clock: FakeClock, api: httpx.Client, video: str, mybrand: str
) -> None:
    publish_id = publish(api, publish_body([video], mybrand)).json()["publishId"]
    clock.advance(STEP)
    reply = api.delete(f"/v1/content/publish/{publish_id}")
    assert (reply.status_code, reply.json()["code"]) == (409, "NOT_CANCELABLE")
    assert "is already processing" in reply.json()["error"]
    clock.advance(STEP)
    assert publish_status(api, publish_id)["status"] == "completed"


def test_a_repeated_cancel_answers_like_the_first(
    clock: FakeClock, api: httpx.Client, video: str, mybrand: str
) -> None:
    body = publish_body([video], mybrand, dispatchAt=format_instant(START + 3600))
    publish_id = publish(api, body).json()["publishId"]
    assert api.delete(f"/v1/content/publish/{publish_id}").status_code == 200
    clock.advance(10)
    again = api.delete(f"/v1/content/publish/{publish_id}")
    assert (again.status_code, again.json()["status"]) == (200, "canceled")


def test_unknown_publish_id_is_404(api: httpx.Client) -> None:
    reply = api.get("/v1/content/publish/nope")
    assert (reply.status_code, reply.json()["code"]) == (404, "PUBLISH_NOT_FOUND")


def test_publish_of_another_api_key_is_404(sandbox: Sandbox, api: httpx.Client, video: str, mybrand: str) -> None:
    publish_id = publish(api, publish_body([video], mybrand)).json()["publishId"]
    with client_for(sandbox, SECOND_KEY) as second:
        assert second.get(f"/v1/content/publish/{publish_id}").status_code == 404


# -- rate limits -------------------------------------------------------------------------


def test_over_the_limit_is_429_with_retry_after(make_sandbox: Callable[..., Sandbox], clock: FakeClock) -> None:
    sandbox = make_sandbox(rate_limits={"read": 2})
    with client_for(sandbox) as api:
        first = api.get("/v1/platform-accounts")
        clock.advance(15)
        api.get("/v1/platform-accounts")
        refused = api.get("/v1/platform-accounts")
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    assert (refused.status_code, refused.json()["code"]) == (429, "RATE_LIMITED")
    assert (refused.headers["Retry-After"], refused.headers["X-RateLimit-Remaining"]) == ("45", "0")
    assert float(refused.headers["X-RateLimit-Reset"]) == 45.0
    assert sandbox.state.rate_limited_count == 1


def test_refused_requests_do_not_use_quota(make_sandbox: Callable[..., Sandbox], clock: FakeClock) -> None:
    sandbox = make_sandbox(rate_limits={"read": 2})
    with client_for(sandbox) as api:
        statuses = [api.get("/v1/platform-accounts").status_code for _ in range(5)]
        clock.advance(60)
        statuses += [api.get("/v1/platform-accounts").status_code for _ in range(3)]
    assert statuses == [200, 200, 429, 429, 429, 200, 200, 429]
    assert sandbox.state.rate_limited_count == 4


def test_quotas_are_per_category_and_per_key(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox(rate_limits={"read": 1})
    with client_for(sandbox) as api, client_for(sandbox, SECOND_KEY) as second:
        assert api.get("/v1/platform-accounts").status_code == 200
        assert api.get("/v1/platform-accounts").status_code == 429
        assert second.get("/v1/platform-accounts").status_code == 200
        assert api.delete("/v1/content/nope").status_code == 404  # delete quota untouched


def test_presigned_put_is_not_rate_limited(make_sandbox: Callable[..., Sandbox], bare: httpx.Client) -> None:
    sandbox = make_sandbox(rate_limits={"upload": 1})
    with client_for(sandbox) as api:
        session = begin_upload(api, 4)
        puts = [
            bare.put(session["upload"]["url"], content=b"data", headers=session["upload"]["headers"]) for _ in range(3)
        ]
        complete = api.post("/v1/content/upload/complete", json=complete_body(session, 4))
    assert [put.status_code for put in puts] == [200, 200, 200]
    assert complete.status_code == 429


def test_small_window_frees_quota_once_it_passes(make_sandbox: Callable[..., Sandbox]) -> None:
    sandbox = make_sandbox(clock=time.time, rate_limits={"read": 1}, window_seconds=0.2)
    with client_for(sandbox) as api:
        api.get("/v1/platform-accounts")
        refused = api.get("/v1/platform-accounts")
        time.sleep(0.25)
        again = api.get("/v1/platform-accounts")
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "1")
    assert 0 < float(refused.headers["X-RateLimit-Reset"]) <= 0.2
    assert again.status_code == 200


# -- faults ------------------------------------------------------------------------------


def test_fail_next_answers_the_given_status_then_recovers(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.faults.fail_next(2, status=503)
    statuses = [api.get("/v1/platform-accounts") for _ in range(3)]
    assert [reply.status_code for reply in statuses] == [503, 503, 200]
    assert statuses[0].json()["code"] == "SERVICE_UNAVAILABLE"


def test_fail_next_after_serves_that_many_requests_first(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.faults.fail_next(1, status=503, after=2)
    statuses = [api.get("/v1/platform-accounts").status_code for _ in range(4)]
    assert statuses == [200, 200, 503, 200]


def test_fail_next_only_hits_its_path_prefix(sandbox: Sandbox, api: httpx.Client, bare: httpx.Client) -> None:
    sandbox.faults.fail_next(1, status=500, path_prefix="/storage/")
    session = begin_upload(api, 4)
    failed = bare.put(session["upload"]["url"], content=b"data", headers=session["upload"]["headers"])
    retried = bare.put(session["upload"]["url"], content=b"data", headers=session["upload"]["headers"])
    assert (failed.status_code, retried.status_code) == (500, 200)


def test_dropped_publish_reply_is_recorded_and_replayed_on_retry(
    sandbox: Sandbox, api: httpx.Client, video: str, mybrand: str
) -> None:
    sandbox.faults.drop_next_publish_reply()
    with pytest.raises(httpx.RemoteProtocolError):
        publish(api, publish_body([video], mybrand))
    assert sandbox.state.publish_calls == 1
    retry = publish(api, publish_body([video], mybrand))
    assert retry.status_code == 201 and retry.json()["publishId"] == sandbox.state.publish_requests[0]["publishId"]
    assert sandbox.state.publish_calls == 1


def test_delay_slows_every_api_reply(sandbox: Sandbox, api: httpx.Client) -> None:
    sandbox.faults.delay_seconds = 0.3
    started = time.monotonic()
    reply = api.get("/v1/platform-accounts")
    assert reply.status_code == 200 and time.monotonic() - started >= 0.3
    sandbox.faults.delay_seconds = 0.0
    with pytest.raises(httpx.ReadTimeout):
        sandbox.faults.delay_seconds = 0.5
        api.get("/v1/platform-accounts", timeout=0.1)


def test_faults_and_keys_can_be_set_over_http(sandbox: Sandbox, api: httpx.Client, bare: httpx.Client) -> None:
    control = f"{sandbox.url}/_sandbox/faults"
    bare.headers.update(CONTROL)
    assert bare.post(control, json={"fail_next": 1, "status": 429}).status_code == 200
    failed = api.get("/v1/platform-accounts")
    assert (failed.status_code, failed.headers["Retry-After"], failed.json()["code"]) == (429, "1", "RATE_LIMITED")
    assert bare.post(control, json={"set_key": {"key": API_KEY, "status": "revoked"}}).status_code == 200
    assert api.get("/v1/platform-accounts").status_code == 401
    assert bare.post(control, json={"delay_seconds": 1.5, "drop_next_publish_reply": True}).status_code == 200
    assert (sandbox.faults.delay_seconds, sandbox.faults.take_publish_drop()) == (1.5, True)
    assert bare.post(control, json={"delay_seconds": -1}).status_code == 400


def test_state_endpoint_summarises_publishes_and_contents(
    sandbox: Sandbox, api: httpx.Client, bare: httpx.Client, video: str, mybrand: str
) -> None:
    publish_id = publish(api, publish_body([video], mybrand)).json()["publishId"]
    summary = bare.get(f"{sandbox.url}/_sandbox/state", headers=CONTROL).json()
    assert summary["publish_calls"] == 1 and summary["rate_limited_count"] == 0
    entry = summary["publishes"][0]
    assert (entry["publishId"], entry["idempotencyKey"], entry["status"]) == (publish_id, "key-1", "pending")
    assert entry["targets"][0]["accountId"] == mybrand
    assert summary["contents"][video]["status"] == "ready"
    assert summary == sandbox.state_summary()


def test_targets_echo_caption_intent_and_options(sandbox: Sandbox, api: httpx.Client, video: str, mybrand: str) -> None:
    publish(api, publish_body([video], mybrand, intent="draft"))
    [target] = sandbox.state.publish_requests[0]["targets"]
    assert (target["caption"], target["intent"]) == ("Hello #fyp", "draft")
    assert target["options"] == {"privacyLevel": "SELF_ONLY", "disableDuet": False}


# -- lifecycle ---------------------------------------------------------------------------


def test_stop_closes_the_listening_socket() -> None:
    sandbox = Sandbox().start()
    url = sandbox.url
    sandbox.stop()
    sandbox.stop()
    with loopback_client() as client, pytest.raises(httpx.ConnectError):
        client.get(f"{url}/v1/docs/openapi.json")


def test_url_binds_the_port_before_serving() -> None:
    sandbox = Sandbox()
    try:
        url = sandbox.url
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert sandbox.url == url
    finally:
        sandbox.stop()


def test_serve_forever_blocks_until_stopped_from_another_thread() -> None:
    sandbox = Sandbox()
    assert sandbox.url.startswith("http://")  # bound already, as `pqdrop sandbox` prints it before serving
    thread = threading.Thread(target=sandbox.serve_forever)
    thread.start()
    with loopback_client() as client:
        assert client.get(f"{sandbox.url}/v1/docs/openapi.json").status_code == 200
    sandbox.stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


@pytest.mark.parametrize(("method", "path"), [("GET", "/_sandbox/state"), ("POST", "/_sandbox/faults")])
@pytest.mark.parametrize("authorization", [None, "Bearer pq_stranger", "pq_sandbox"])
def test_the_control_routes_refuse_a_caller_without_a_key_the_sandbox_knows(
    sandbox: Sandbox, bare: httpx.Client, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    reply = bare.request(method, f"{sandbox.url}{path}", json={"delay_seconds": 30}, headers=headers)
    assert (reply.status_code, reply.json()["code"]) == (401, "UNAUTHORIZED")
    assert "send 'Authorization: Bearer pq_sandbox'" in reply.json()["error"]
    assert sandbox.faults.delay_seconds == 0.0  # nothing was switched on


def test_a_revoked_key_still_reaches_the_controls_to_take_its_revocation_back(
    sandbox: Sandbox, api: httpx.Client, bare: httpx.Client
) -> None:
    control = f"{sandbox.url}/_sandbox/faults"
    revoked = {"Authorization": f"Bearer {API_KEY}"}
    revoke = {"set_key": {"key": API_KEY, "status": "revoked"}}
    assert bare.post(control, json=revoke, headers=revoked).status_code == 200
    assert api.get("/v1/platform-accounts").status_code == 401
    assert bare.post(control, json={"set_key": {"key": API_KEY, "status": "ok"}}, headers=revoked).status_code == 200
    assert api.get("/v1/platform-accounts").status_code == 200
