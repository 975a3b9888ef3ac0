"""The sandbox's v2 API: workspaces, integrations, creator info, presigned images, dryRun, cancel, reschedule.

It keeps v1's records (contents, publishes, idempotency) in SandboxState and adds what v2 has
on top: every call names a workspace the key reaches (reference A3), and a target can be
cancelled or moved while it waits, never once it is processing or done (A4).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pqdrop.sandbox.instants import format_instant
from pqdrop.sandbox.progress import TERMINAL, WAITING, Timeline
from pqdrop.sandbox.records import ACCOUNTS, Account, Publish
from pqdrop.sandbox.refusal import Refusal, invalid
from pqdrop.sandbox.state import SandboxState, owner_of
from pqdrop.sandbox.v2checks import (
    check_dispatch,
    check_publish,
    check_upload_complete,
    check_upload_start,
    photo_caption_warnings,
)
from pqdrop.sandbox.views import publish_view

_NAMESPACE = uuid.UUID("0d7f3c52-94a1-4b3e-8f0e-6a2d9c1b5e47")
PUBLIC_PRIVACY = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY")
PRIVATE_PRIVACY = ("FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY")


def workspace_id(name: str = "Main") -> str:
    """The stable id the sandbox gives a workspace of this name."""
    return str(uuid.uuid5(_NAMESPACE, name))


@dataclass(frozen=True)
class Call:
    """One v2 request as the HTTP shell hands it over."""

    action: str
    path_id: str | None
    query: Mapping[str, str]
    body: Mapping[str, Any]
    idempotency_key: str | None
    base_url: str


class V2Api:
    """The v2 routes over a SandboxState; `workspaces` are the names of the workspaces every key reaches."""

    def __init__(self, state: SandboxState, workspaces: tuple[str, ...] = ("Main",)) -> None:
        self.state = state
        self.workspaces = {workspace_id(name): name for name in workspaces}
        self._homes: dict[str, str] = {}  # content or publish id -> its workspace

    def homes(self) -> dict[str, str]:
        """Which workspace each content and publish belongs to (for the state file)."""
        with self.state.lock:
            return dict(self._homes)

    def restore_homes(self, homes: Mapping[str, str]) -> None:
        """Take back what `homes` gave, at start."""
        with self.state.lock:
            self._homes = dict(homes)

    def handle(self, api_key: str, call: Call) -> tuple[int, Any]:
        """The status and JSON body of one v2 call, or a Refusal."""
        if call.action == "v2_context":
            return 200, self.context(api_key)
        scope = call.body if call.action in ("v2_upload", "v2_complete", "v2_publish", "v2_reschedule") else call.query
        workspace = self._workspace(scope)
        action = getattr(self, "_" + call.action.removeprefix("v2_"))
        result: tuple[int, Any] = action(api_key, workspace, call)
        return result

    def context(self, api_key: str) -> dict[str, Any]:
        """`GET /v2/mcp/context`: the machine principal and the workspaces its organization has."""
        spaces = [{"id": ident, "name": name, "slug": name.lower().replace(" ", "-")}
                  for ident, name in self.workspaces.items()]
        organization = {"id": "org_" + owner_of(api_key)[4:], "name": "Sandbox Org", "workspaces": spaces}
        return {"principal": {"type": "api_key", "keyPrefix": api_key[:11]}, "organizations": [organization]}

    # -- scope -------------------------------------------------------------------------

    def _workspace(self, scope: Mapping[str, Any]) -> str:
        wanted = scope.get("workspaceId")
        if not wanted:
            raise Refusal(400, "MISSING_WORKSPACE",
                          "Missing explicit machine scope: API keys must send workspaceId (see GET /v2/mcp/context)")
        if wanted not in self.workspaces:
            raise Refusal(403, "WORKSPACE_ACCESS_DENIED", "Workspace access denied")
        return str(wanted)

    def _home(self, ident: str, workspace: str, missing: Refusal) -> None:
        if self._homes.get(ident) != workspace:
            raise missing

    # -- accounts ----------------------------------------------------------------------

    def accounts(self) -> list[dict[str, Any]]:
        """Every connected account, of every platform (`GET /v2/integrations`)."""
        return [integration_view(account, self.state.clock()) for account in ACCOUNTS]

    def _integrations(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        return 200, {"accounts": self.accounts()}

    def _creator_info(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        account = _account(str(call.path_id))
        if account.platform != "tiktok":
            raise invalid(f"account {account.id} is a {account.platform} account; creator info is TikTok's")
        return 200, {
            "creatorUsername": account.username.lstrip("@"),
            "creatorNickname": account.display_name,
            "privacyLevelOptions": list(PRIVATE_PRIVACY if account.private else PUBLIC_PRIVACY),
            "commentDisabled": False,
            "duetDisabled": account.private,
            "stitchDisabled": account.private,
            "maxVideoPostDurationSec": account.max_video_seconds,
        }

    # -- contents ----------------------------------------------------------------------

    def _upload(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        start = check_upload_start(call.body)
        reply = self.state.open_upload(api_key, start.kind, start.filename, start.content_type, start.file_size,
                                       call.base_url)
        self._homes[reply["contentId"]] = workspace
        return 200, reply

    def _complete(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        content_id = str(call.body.get("contentId") or "")
        self._home(content_id, workspace, Refusal(404, "CONTENT_NOT_FOUND", "Content or uploaded file not found"))
        with self.state.lock:
            content = self.state.content(api_key, content_id)
            request = check_upload_complete(call.body, content.kind, content.head)
            view = self.state.finish_upload(api_key, request, images=True)
        return 200, {"content": asset_view(view, call.base_url)}

    def _delete_content(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        content_id = str(call.path_id)
        self._home(content_id, workspace, Refusal(404, "CONTENT_NOT_FOUND", f"No content {content_id!r}"))
        self.state.delete_content(api_key, content_id)
        return 200, {"success": True}

    # -- publishing --------------------------------------------------------------------

    def _publish(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        accounts = {account.id: account.platform for account in ACCOUNTS}
        now = self.state.clock()
        checked = check_publish(call.body, now, accounts)
        for index, content_id in enumerate(checked.request.content_ids):
            self._home(content_id, workspace,
                       Refusal(400, "CONTENT_NOT_FOUND", f"contentIds[{index}]: no content {content_id!r}"))
        if checked.dry_run:
            self.state.check_contents(api_key, checked.request.content_ids)
            images = sum(self.state.contents[content_id]["type"] == "image"
                         for content_id in checked.request.content_ids)
            targets = [{"platform": target.platform, "accountId": target.account_id, "status": "validated",
                        "dispatchAt": call.body["targets"][index].get("dispatchAt")}
                       for index, target in enumerate(checked.request.targets)]
            return 200, {"dryRun": True, "valid": True, "targets": targets,
                         "warnings": photo_caption_warnings(checked.request, images)}
        outcome = self.state.publish(api_key, call.idempotency_key, call.body, lambda body, now: checked.request)
        self._homes[outcome.body["publishId"]] = workspace
        return 200, outcome.body

    def _status(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        publish = self._publish_in(api_key, workspace, str(call.path_id))
        with self.state.lock:
            return 200, publish_view(publish, self.state.clock())

    def _cancel(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        """Cancel a pending or scheduled request; targets already processing or done cannot be (S1)."""
        publish = self._publish_in(api_key, workspace, str(call.path_id))
        with self.state.lock:
            now = self.state.clock()
            statuses = [target.timeline.status_at(now) for target in publish.targets]
            if not all(status in (*WAITING, "canceled") for status in statuses):
                raise Refusal(409, "NOT_CANCELLABLE", f"publish {publish.publish_id} has targets already "
                              f"processing or done ({', '.join(statuses)}); only pending or scheduled ones cancel")
            for target, status in zip(publish.targets, statuses, strict=True):
                if status in WAITING:
                    target.timeline = dataclasses.replace(target.timeline, canceled_at=now)
            publish.canceled_at = now
            return 200, publish_view(publish, now)

    def _cancel_target(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        publish, index = self._target_in(api_key, workspace, str(call.path_id))
        with self.state.lock:
            now = self.state.clock()
            target = publish.targets[index]
            _still_waiting(target.timeline, now, target.target_id, "cancelled")
            target.timeline = dataclasses.replace(target.timeline, canceled_at=now)
            if all(other.timeline.status_at(now) in TERMINAL for other in publish.targets):
                publish.canceled_at = now
            return 200, {"success": True, "target": publish_view(publish, now)["targets"][index]}

    def _reschedule(self, api_key: str, workspace: str, call: Call) -> tuple[int, Any]:
        """`PATCH /v2/publish/target/{id}` `{dispatchAt}`: null means now."""
        if "dispatchAt" not in call.body or set(call.body) - {"dispatchAt", "workspaceId"}:
            raise invalid("Invalid dispatchAt: the body is {dispatchAt: date-time or null, workspaceId}")
        publish, index = self._target_in(api_key, workspace, str(call.path_id))
        with self.state.lock:
            now = self.state.clock()
            target = publish.targets[index]
            _still_waiting(target.timeline, now, target.target_id, "rescheduled")
            moment = check_dispatch(call.body["dispatchAt"], "dispatchAt", now)
            target.timeline = (dataclasses.replace(target.timeline, created_at=now, dispatch_at=None)
                               if moment is None else dataclasses.replace(target.timeline, dispatch_at=moment))
            return 200, {"success": True, "target": publish_view(publish, now)["targets"][index]}

    def _publish_in(self, api_key: str, workspace: str, publish_id: str) -> Publish:
        self._home(publish_id, workspace, Refusal(404, "PUBLISH_NOT_FOUND", f"No publish {publish_id!r}"))
        return self.state.owned_publish(api_key, publish_id)

    def _target_in(self, api_key: str, workspace: str, target_id: str) -> tuple[Publish, int]:
        publish, target = self.state.find_target(api_key, target_id)
        self._home(publish.publish_id, workspace, Refusal(404, "TARGET_NOT_FOUND", f"Target not found: {target_id!r}"))
        return publish, publish.targets.index(target)


def _still_waiting(timeline: Timeline, now: float, target_id: str, verb: str) -> None:
    status = timeline.status_at(now)
    if status not in WAITING:
        raise Refusal(409, "NOT_CANCELLABLE" if verb == "cancelled" else "NOT_RESCHEDULABLE",
                      f"target {target_id} is {status}; only a queued or scheduled target can be {verb}")


def _account(account_id: str) -> Account:
    for account in ACCOUNTS:
        if account.id == account_id:
            return account
    raise Refusal(404, "ACCOUNT_NOT_FOUND", f"Account not found: {account_id!r}")


def integration_view(account: Account, now: float) -> dict[str, Any]:
    """A PlatformAccount of `GET /v2/integrations` (S1)."""
    return {
        "id": account.id, "platform": account.platform, "externalAccountId": account.id.removeprefix("acc_"),
        "username": account.username, "displayName": account.display_name, "avatarUrl": None,
        "accountStatus": "active", "createdAt": format_instant(now - 86400 * 30),
    }


def asset_view(view: Mapping[str, Any], base_url: str) -> dict[str, Any]:
    """A ContentAsset (S1) from the sandbox's content view."""
    return {
        "id": view["contentId"], "url": f"{base_url}/v2/content/{view['contentId']}/file",
        "mediaType": view["type"], "mimeType": view["contentType"], "filename": view["filename"],
        "size": view["size"], "width": view.get("width"), "height": view.get("height"),
        "durationMs": view.get("durationMs"), "status": view["status"], "createdAt": view["createdAt"],
    }


