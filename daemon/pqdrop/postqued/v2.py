"""PostQued v2: organization-bound keys with an explicit workspaceId, photos through the presigned flow,
accounts from /v2/integrations, dryRun, cancel and reschedule (reference A3, A4)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pqdrop.descriptors import Identity
from pqdrop.errors import ConfigError
from pqdrop.postqued.dialect import Dialect
from pqdrop.postqued.replies import (
    parse_account,
    parse_publish_state,
    parse_target_state,
    parse_upload_ticket,
    parse_workspaces,
)
from pqdrop.postqued.transport import Transport
from pqdrop.postqued.types import Account, Api, PublishState, TargetState, UploadTicket, Workspace

log = logging.getLogger("pqdrop")


class V2(Dialect):
    """`/v2/...`; `workspace` is the configured workspace id, or None to discover the one the key reaches."""

    api = Api.V2

    def __init__(self, transport: Transport, workspace: str | None = None) -> None:
        super().__init__(transport)
        self._wanted = workspace
        self._workspace: str | None = None
        self._all_accounts: tuple[Account, ...] | None = None

    # --- scope ------------------------------------------------------------------------------

    def probe(self) -> None:
        self.workspace_id()

    def workspaces(self) -> tuple[Workspace, ...]:
        """The workspaces the key reaches (`GET /v2/mcp/context`)."""
        return parse_workspaces(self.transport.call("read", "GET", "/v2/mcp/context"))

    def workspace_id(self) -> str:
        """The workspace every call names: the configured one once checked, or the only one the key reaches."""
        with self._lock:
            if self._workspace is None:
                self._workspace = choose_workspace(self._wanted, self.workspaces())
            return self._workspace

    def _scope(self) -> dict[str, str]:
        return {"workspaceId": self.workspace_id()}

    # --- uploads ----------------------------------------------------------------------------

    def start_upload(self, filename: str, content_type: str, size: int) -> UploadTicket:
        body = {"filename": filename, "contentType": content_type, "fileSize": size, **self._scope()}
        reply = self.transport.call("upload", "POST", "/v2/content/upload", json_body=body)
        return parse_upload_ticket(reply, "POST /v2/content/upload")

    def complete_upload(
        self, ticket: UploadTicket, *, filename: str, content_type: str, size: int, width: int | None,
        height: int | None, duration_ms: int | None,
    ) -> dict[str, Any]:
        measured = {"width": width, "height": height, "durationMs": duration_ms}
        body = {
            "contentId": ticket.content_id, "key": ticket.key, "filename": filename, "contentType": content_type,
            "size": size, **{name: value for name, value in measured.items() if value}, **self._scope(),
        }
        return self.transport.call("upload", "POST", "/v2/content/upload/complete", json_body=body)

    def upload_photo(
        self, path: Path, content_type: str, size: int, *, width: int, height: int, max_rate: float = 0.0,
        identity: Identity | None = None,
    ) -> str:
        """Photos take the same three steps as videos in v2; the multipart call "no longer applies" (A9)."""
        return self.presigned_upload(path, content_type, size, width=width, height=height, duration_ms=None,
                                     max_rate=max_rate, identity=identity)

    def upload_image(self, path: Path, content_type: str) -> str:
        from pqdrop.media.probe import probe  # PyAV, only for a photo whose size the caller did not measure

        info = probe(path)
        return self.upload_photo(path, content_type, info.size, width=info.width, height=info.height)

    def delete_content(self, content_id: str) -> None:
        self.transport.call("delete", "DELETE", f"/v2/content/{content_id}", params=self._scope())

    # --- accounts ---------------------------------------------------------------------------

    def _fetch_accounts(self, platform: str) -> tuple[Account, ...]:
        """`/v2/integrations` has no platform filter: read all once and filter here."""
        return tuple(account for account in self._integrations() if account.platform == platform)

    def accounts(self) -> tuple[Account, ...]:
        with self._lock:
            return self._integrations()

    def _integrations(self) -> tuple[Account, ...]:
        if self._all_accounts is None:
            reply = self.transport.call("read", "GET", "/v2/integrations", params=self._scope())
            raw = reply.get("accounts") or reply.get("integrations") or reply.get("items") or []
            self._all_accounts = tuple(parse_account(item, "") for item in raw if isinstance(item, dict))
        return self._all_accounts

    def creator_info(self, account_id: str) -> Mapping[str, Any] | None:
        reply = self.transport.call("read", "GET", f"/v2/integrations/{account_id}/creator-info", params=self._scope())
        inner = reply.get("creatorInfo") or reply.get("data")
        return inner if isinstance(inner, dict) else reply

    # --- publishing -------------------------------------------------------------------------

    def publish(
        self, content_ids: Sequence[str], targets: Sequence[Mapping[str, Any]], idempotency_key: str,
        *, dry_run: bool = False,
    ) -> PublishState:
        body: dict[str, Any] = {
            "contentIds": list(content_ids), "targets": [dict(target) for target in targets], **self._scope(),
        }
        headers = {"Idempotency-Key": idempotency_key}
        if dry_run:  # validates only; no key is required (A4 "dryRun")
            body["dryRun"] = True
            headers = {}
        return parse_publish_state(self.transport.call("publish", "POST", "/v2/publish", json_body=body,
                                                       headers=headers))

    def publish_status(self, publish_id: str) -> PublishState:
        return parse_publish_state(self.transport.call("read", "GET", f"/v2/publish/{publish_id}",
                                                       params=self._scope()))

    def cancel(self, publish_id: str) -> PublishState:
        self.transport.call("delete", "POST", f"/v2/publish/{publish_id}/cancel", params=self._scope())
        return self.publish_status(publish_id)

    def cancel_target(self, publish_id: str, target_id: str) -> PublishState:
        self.transport.call("delete", "POST", f"/v2/publish/target/{target_id}/cancel", params=self._scope())
        return self.publish_status(publish_id)

    can_reschedule = True

    def reschedule_target(self, target_id: str, dispatch_at: str | None) -> TargetState:
        body = {"dispatchAt": dispatch_at, **self._scope()}
        reply = self.transport.call("publish", "PATCH", f"/v2/publish/target/{target_id}", json_body=body)
        target = reply.get("target")  # the reply's shape is undocumented (A4): the target, or under `target`
        return parse_target_state(target if isinstance(target, dict) else reply)

    def reschedule(self, publish_id: str, target_id: str, dispatch_at: str | None) -> PublishState:
        self.reschedule_target(target_id, dispatch_at)
        return self.publish_status(publish_id)


def choose_workspace(wanted: str | None, reachable: Sequence[Workspace]) -> str:
    """The configured workspace if the key reaches it, else the only one; never a guess between several (A3)."""
    # One line, as every message: a log or a status line shows a line feed as a literal \n.
    listing = ", ".join(f"{space.name} (id {space.id})" for space in reachable)
    if wanted is not None:
        for space in reachable:
            if wanted in (space.id, space.name):
                return space.id
        raise ConfigError(
            f"[postqued].workspace = {wanted!r} is not a workspace this API key reaches; it reaches: "
            f"{listing or 'none'}")
    if not reachable:
        raise ConfigError("the API key reaches no workspace (GET /v2/mcp/context lists none); check the key's "
                          "organization in PostQued under Settings → API")
    if len(reachable) > 1:
        raise ConfigError(
            f"the API key reaches {len(reachable)} workspaces and pqdrop never guesses between them: {listing}; "
            f"add the one to post to under [postqued] in the config, e.g. workspace = \"{reachable[0].id}\"")
    space = reachable[0]
    log.info("posting in workspace %s (%s), the only one the API key reaches", space.name, space.id)
    return space.id
