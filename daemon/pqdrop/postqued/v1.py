"""PostQued v1: the legacy routes of the v1 skill (seed), as pqdrop first spoke them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pqdrop.descriptors import Identity
from pqdrop.errors import ApiRejected
from pqdrop.names import for_api
from pqdrop.postqued.dialect import Dialect
from pqdrop.postqued.replies import content_id_of, parse_account, parse_publish_state, parse_upload_ticket
from pqdrop.postqued.storage import read_media
from pqdrop.postqued.types import Account, Api, PublishState, TargetState, UploadTicket

NOT_IN_V1 = "NOT_IN_V1"


class V1(Dialect):
    """`/v1/...`: multipart photos, accounts filtered by the server, cancel = delete the request."""

    api = Api.V1

    def probe(self) -> None:
        self.transport.call("read", "GET", "/v1/platform-accounts", params={"platform": "tiktok"})

    def start_upload(self, filename: str, content_type: str, size: int) -> UploadTicket:
        body = {"filename": filename, "contentType": content_type, "fileSize": size}
        return parse_upload_ticket(self.transport.call("upload", "POST", "/v1/content/upload", json_body=body))

    def complete_upload(
        self, ticket: UploadTicket, *, filename: str, content_type: str, size: int, width: int | None,
        height: int | None, duration_ms: int | None,
    ) -> dict[str, Any]:
        body = {
            "contentId": ticket.content_id, "key": ticket.key, "filename": filename, "contentType": content_type,
            "size": size, "width": width, "height": height, "durationMs": duration_ms,
        }
        return self.transport.call("upload", "POST", "/v1/content/upload/complete", json_body=body)

    def upload_photo(
        self, path: Path, content_type: str, size: int, *, width: int, height: int, max_rate: float = 0.0,
        identity: Identity | None = None,
    ) -> str:
        data = read_media(path, size, identity)  # photos are at most 20 MB by TikTok's rules
        files = {"file": (for_api(path.name), data, content_type)}  # UTF-8, whatever the bytes on disk
        reply = self.transport.call("upload", "POST", "/v1/content/upload-image", files=files)
        return content_id_of(reply, "POST /v1/content/upload-image")

    def delete_content(self, content_id: str) -> None:
        self.transport.call("delete", "DELETE", f"/v1/content/{content_id}")

    def _fetch_accounts(self, platform: str) -> tuple[Account, ...]:
        reply = self.transport.call("read", "GET", "/v1/platform-accounts", params={"platform": platform})
        return tuple(parse_account(raw, platform) for raw in reply.get("accounts") or [] if isinstance(raw, dict))

    def publish(
        self, content_ids: Sequence[str], targets: Sequence[Mapping[str, Any]], idempotency_key: str,
        *, dry_run: bool = False,
    ) -> PublishState:
        if dry_run:
            raise ApiRejected("v1 has no dry run of a publish; use [postqued].api = \"v2\"", code=NOT_IN_V1)
        body = {"contentIds": list(content_ids), "targets": [dict(target) for target in targets]}
        reply = self.transport.call(
            "publish", "POST", "/v1/content/publish", json_body=body, headers={"Idempotency-Key": idempotency_key}
        )
        return parse_publish_state(reply)

    def publish_status(self, publish_id: str) -> PublishState:
        return parse_publish_state(self.transport.call("read", "GET", f"/v1/content/publish/{publish_id}"))

    def cancel(self, publish_id: str) -> PublishState:
        return parse_publish_state(self.transport.call("delete", "DELETE", f"/v1/content/publish/{publish_id}"))

    def cancel_target(self, publish_id: str, target_id: str) -> PublishState:
        """v1 can only delete the whole request: fine when it has this one target, refused otherwise."""
        state = self.publish_status(publish_id)
        if len(state.targets) > 1:
            raise ApiRejected(
                f"publish {publish_id} has {len(state.targets)} targets and v1 cancels only whole requests; "
                "cancel it whole, or speak v2 ([postqued].api = \"v2\") to cancel one target", code=NOT_IN_V1)
        return self.cancel(publish_id)

    def reschedule_target(self, target_id: str, dispatch_at: str | None) -> TargetState:
        raise ApiRejected(f"target {target_id}: PostQued v1 cannot reschedule; cancel and publish again",
                          code="NOT_SUPPORTED")

    def reschedule(self, publish_id: str, target_id: str, dispatch_at: str | None) -> PublishState:
        raise ApiRejected(
            f"publish {publish_id}: v1 cannot move a target's dispatchAt; cancel and publish again, or speak v2 "
            "([postqued].api = \"v2\")", code=NOT_IN_V1)
