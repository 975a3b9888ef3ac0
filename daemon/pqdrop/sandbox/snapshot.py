"""The sandbox's memory on disk: contents, publishes, idempotency, workspaces and TikTok's counts in one JSON file.

A trial that runs for days (`pqdrop try`) must find tomorrow's scheduled post still scheduled after
a restart, as the real PostQued would; without a file the sandbox forgets everything when it stops.
The file is written whole after every request that changed something (a temporary beside it, then a
rename), so a kill leaves the last complete version. API keys are not in it: records name their
owner by the hash the sandbox already uses, and a key is matched to its records again on load.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pqdrop.sandbox.progress import Timeline
from pqdrop.sandbox.records import ACCOUNTS, Content, IdempotencyRecord, Publish, Target
from pqdrop.sandbox.state import SandboxState, owner_of
from pqdrop.sandbox.v2 import V2Api

STATE_FILE = "sandbox.json"
VERSION = 1


class SnapshotError(Exception):
    """A state file that cannot be read back (not JSON, another version, a record of an unknown account)."""


def dump(state: SandboxState, v2: V2Api) -> dict[str, Any]:
    """Everything a restart must remember, as JSON values."""
    contents, publishes, idempotency = state.records()
    return {
        "version": VERSION,
        "workspaces": v2.homes(),
        "contents": [_content(content) for content in contents],
        "publishes": [_publish(publish) for publish in publishes],
        "idempotency": [
            {"owner": owner, "key": key, **asdict(record)} for (owner, key), record in idempotency.items()
        ],
        "tiktok_posts": [
            {"account": account, "intent": intent, "at": list(times)}
            for (account, intent), times in state.tiktok.posts().items()
        ],
    }


def restore(state: SandboxState, v2: V2Api, document: Mapping[str, Any], api_keys: Iterable[str]) -> None:
    """Load `document` (from `dump`) into a fresh state whose keys are `api_keys`."""
    if document.get("version") != VERSION:
        raise SnapshotError(f"version {document.get('version')!r}, expected {VERSION}")
    keys = {owner_of(key): key for key in api_keys}
    try:
        contents = [_read_content(entry) for entry in document["contents"]]
        publishes = [_read_publish(entry) for entry in document["publishes"]]
        idempotency = {
            (keys[entry["owner"]], entry["key"]): IdempotencyRecord(
                entry["fingerprint"], entry["status"], entry["reply"], entry["created_at"])
            for entry in document["idempotency"] if entry["owner"] in keys
        }
        posts = {(entry["account"], entry["intent"]): [float(at) for at in entry["at"]]
                 for entry in document["tiktok_posts"]}
        homes = {str(ident): str(workspace) for ident, workspace in document["workspaces"].items()}
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"a record is incomplete or malformed ({exc!r})") from exc
    state.restore(contents, publishes, idempotency)
    state.tiktok.restore_posts(posts)
    v2.restore_homes(homes)


class StateFile:
    """One sandbox's state file: read at start, rewritten after each change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self, state: SandboxState, v2: V2Api, api_keys: Iterable[str]) -> bool:
        """Fill `state` from the file; False when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return False
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise SnapshotError(f"{self.path}: not JSON ({exc}); move it away to start the sandbox afresh") from exc
        try:
            restore(state, v2, document, api_keys)
        except SnapshotError as exc:
            raise SnapshotError(f"{self.path}: {exc}; move it away to start the sandbox afresh") from exc
        return True

    def save(self, state: SandboxState, v2: V2Api) -> None:
        """Write the state whole: a temporary beside the file, fsynced, then renamed over it."""
        with self._lock:
            text = json.dumps(dump(state, v2), indent=1, sort_keys=True)
            temporary = self.path.with_name(f".{self.path.name}.tmp")
            with open(temporary, "w", encoding="utf-8") as stream:
                stream.write(text)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)


def _content(content: Content) -> dict[str, Any]:
    fields = asdict(content)
    fields["head"] = base64.b64encode(content.head).decode("ascii")
    return fields


def _read_content(entry: Mapping[str, Any]) -> Content:
    fields = dict(entry)
    fields["head"] = base64.b64decode(fields.get("head", ""))
    return Content(**fields)


def _publish(publish: Publish) -> dict[str, Any]:
    return {
        "publish_id": publish.publish_id,
        "owner": publish.owner,
        "idempotency_key": publish.idempotency_key,
        "body": publish.body,
        "content_ids": list(publish.content_ids),
        "created_at": publish.created_at,
        "canceled_at": publish.canceled_at,
        "targets": [
            {"target_id": target.target_id, "account": target.account.id, "intent": target.intent,
             "caption": target.caption, "options": target.options, "timeline": asdict(target.timeline),
             "fail_reason": target.fail_reason}
            for target in publish.targets
        ],
    }


def _read_publish(entry: Mapping[str, Any]) -> Publish:
    accounts = {account.id: account for account in ACCOUNTS}
    targets = [
        Target(target["target_id"], accounts[target["account"]], target["intent"], target["caption"],
               dict(target["options"]), Timeline(**target["timeline"]), target["fail_reason"])
        for target in entry["targets"]
    ]
    return Publish(entry["publish_id"], entry["owner"], entry["idempotency_key"], dict(entry["body"]),
                   tuple(entry["content_ids"]), targets, entry["created_at"], entry["canceled_at"])
