"""What a post sends and what its outcome says: pure functions over values, no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pqdrop.config import fold_account
from pqdrop.errors import ItemError, MediaError, PqdropError
from pqdrop.instants import iso_z
from pqdrop.names import shown
from pqdrop.platforms import TABLES
from pqdrop.platforms.tiktok import Reaction, answer_to, is_tiktok_code
from pqdrop.sidecar.parse import Target
from pqdrop.states import DRAFT_WAITS, ItemState, failure_reason, outcome_of
from pqdrop.suggest import nearest

if TYPE_CHECKING:  # types only: a reader of results (`pqdrop status`) loads neither PyAV nor httpx
    from pqdrop.media.probe import MediaInfo
    from pqdrop.postqued.types import Account, PublishState


@dataclass(frozen=True)
class Uploaded:
    """One media file in PostQued's storage."""

    path: str
    content_id: str
    fingerprint: str


@dataclass
class Result:
    """What happened to one item; `state` decides the folder it is filed in."""

    name: str
    state: ItemState
    publish_id: str | None = None
    idempotency_key: str | None = None
    error_code: str | None = None
    message: str | None = None
    note: str | None = None
    status_file: Path | None = None
    problems: list[dict[str, str]] = field(default_factory=list)  # each of several problems: code, message
    targets: list[dict[str, Any]] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Round:
    """What one pass over the ready items did."""

    results: list[Result] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)  # item name -> why it waits for the next round
    local: dict[str, str] = field(default_factory=dict)  # item name -> the local file trouble it waits out
    postponed: set[str] = field(default_factory=set)  # waiting for another item of this round, not for the API
    interrupted: dict[str, str] = field(default_factory=dict)  # item name -> the step a stop request left it at
    inbox_blocked: dict[str, str] = field(default_factory=dict)  # item name -> what in the inbox keeps it from filing
    blocked: str | None = None


def check_media_set(name: str, media: Sequence[MediaInfo]) -> None:
    """One post is one video, or photos; never a mix. TikTok's limits are checked in preflight.py."""
    videos = [info for info in media if info.kind == "video"]
    images = [info for info in media if info.kind == "image"]
    if not media:
        raise MediaError(f"{name}: no media file found; add a video or photos beside the sidecar")
    if videos and images:
        raise MediaError(f"{name}: mixes a video with photos; a post is one video or a set of photos")
    if len(videos) > 1:
        raise MediaError(f"{name}: holds {len(videos)} videos; a post carries exactly one video")


def find_account(
    wanted: str, known: Sequence[Account], where: Any, key: str = "account", *, platform: str = "tiktok",
    elsewhere: Callable[[], Sequence[Account]] | None = None,
) -> Account:
    """The account of `platform` named by username (with or without @, any case) or by id; `key` is where
    it was written ("account", "targets[2].account", "[defaults].account").

    `elsewhere` lists every platform's accounts, so an account of another platform is named as such.
    """
    bare = fold_account(wanted)

    def named(account: Account) -> bool:
        return account.id == wanted or fold_account(account.username) == bare

    for account in known:
        if named(account):
            return account
    names = ", ".join(account.username for account in known) or "none"
    other = next((account for account in (elsewhere() if elsewhere else ()) if named(account)), None)
    if other is not None and other.platform != platform:
        raise ItemError(
            f"{_display(where)}: {key}: {wanted!r} is a {other.platform} account, and this target posts to "
            f"{platform}; its {platform} accounts are: {names}", code="ACCOUNT_PLATFORM")
    spelled = {fold_account(account.username): account.username for account in known}
    near = nearest(bare, spelled)
    guess = f"; did you mean {spelled[near]}?" if near is not None else ""
    raise ItemError(
        f"{_display(where)}: {key}: {wanted!r} is not an account this API key can post to (available: {names})"
        + guess + ("; set [defaults].account in the config to one of them, or write account: in the sidecar"
           if key.startswith("[defaults]") else ""),
        code="ACCOUNT_UNKNOWN",
    )


def check_captions(targets: Sequence[Target], where: Any) -> None:
    """PostQued v2 takes no target without a caption (caption minLength 1, reference A4): refused before upload."""
    for number, target in enumerate(targets, start=1):
        if not target.caption and not isinstance(where, Path):
            raise ItemError(f"{_display(where)}: no sidecar, and [defaults].caption is empty: PostQued v2 takes no "
                            f"post without a caption; add {_display(where)}.md, or set caption in [defaults]",
                            code="SIDECAR_MISSING")
        if not target.caption:
            key = "caption" if len(targets) == 1 else f"targets[{number}].caption"
            raise ItemError(f"{_display(where)}: {key}: empty, and PostQued v2 takes no post without a caption; "
                            "write one below the frontmatter (or caption: in the sidecar)", code="SIDECAR_MISSING")


def check_v1_platforms(targets: Sequence[Target], where: Any, configured: str) -> None:
    """PostQued's v1 (legacy) posts to TikTok only: a target of another platform is refused saying v2 is needed,
    not that its account is a TikTok one (issue 22). `configured` is [postqued].api, "v1" or "auto"."""
    problems = []
    for number, target in enumerate(targets, start=1):
        if target.platform == "tiktok":
            continue
        key = "platform" if len(targets) == 1 else f"targets[{number}].platform"
        label = TABLES[target.platform].label
        problems.append(f"{key}: {label} needs PostQued's v2 API, and v1 posts to TikTok only; " + (
            'set api = "v2" under [postqued] in the config' if configured == "v1" else
            'this PostQued answered in v1 only ([postqued].api = "auto"); set api = "v2" under [postqued] once it '
            "offers v2, or post this item to TikTok only"))
    if problems:
        raise ItemError(f"{_display(where)}: {'; '.join(problems)}", code="NEEDS_V2")


def target_body(target: Target, account: Account) -> dict[str, Any]:
    """The publish request's JSON for one target."""
    return {
        "platform": target.platform,
        "accountId": account.id,
        "intent": target.intent,
        "caption": target.caption,
        "dispatchAt": iso_z(target.dispatch_at) if target.dispatch_at else None,
        "options": dict(target.options),
    }


def idempotency_key(
    media_fingerprints: Sequence[str], targets: Sequence[Mapping[str, Any]], repost: bool = False
) -> str:
    """A key derived from the content and the targets, so a twin pqdrop on the same folder gets the same one."""
    canonical = json.dumps(
        {"media": list(media_fingerprints), "targets": list(targets), "repost": repost},
        sort_keys=True,
        separators=(",", ":"),
    )
    return "pqdrop-" + hashlib.sha256(canonical.encode()).hexdigest()[:48]


def retry_key(earlier_key: str, targets: Sequence[Mapping[str, Any]]) -> str:
    """The key of a new attempt after a final failure under `earlier_key`: the API must not replay that one."""
    canonical = json.dumps({"after": earlier_key, "targets": list(targets)}, sort_keys=True, separators=(",", ":"))
    return "pqdrop-" + hashlib.sha256(canonical.encode()).hexdigest()[:48]


def post_fingerprint(media_fingerprints: Sequence[str], account_ids: Sequence[str]) -> str:
    """What makes two posts the same for re-drop detection: the media (in order) and the accounts."""
    canonical = json.dumps({"media": list(media_fingerprints), "accounts": sorted(account_ids)}, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def account_label(account: Account) -> str:
    """An account as every message names it: "@mybrand (tiktok)"."""
    return f"@{account.username.lstrip('@')} ({account.platform})"


def account_labels(state: PublishState, listing: Callable[[str], Sequence[Account]]) -> dict[str, str]:
    """accountId -> "@name (platform)" for the state's targets, from the API's lists (`listing`, by platform);
    an account the lists do not name, or a list that cannot be read now, is left out."""
    labels: dict[str, str] = {}
    for platform in sorted({target.platform or "tiktok" for target in state.targets}):
        try:
            accounts = listing(platform)
        except PqdropError:
            continue
        labels.update({account.id: account_label(account) for account in accounts})
    return labels


def result_from_state(name: str, state: PublishState, key: str,
                      listing: Callable[[str], Sequence[Account]] | None = None) -> Result:
    """Turn the last publish report into the item's result; a failure names its accounts by `listing`'s names."""
    outcome = outcome_of(state)
    result = Result(name, outcome, publish_id=state.publish_id, idempotency_key=key)
    result.targets = [
        {
            "id": target.id,
            "accountId": target.account_id,
            "status": target.status,
            "dispatchAt": target.dispatch_at,
            **({"platform": target.platform} if target.platform else {}),
            **({"reason": target.reason} if target.reason else {}),
            **({"errorCode": target.error_code} if target.error_code else {}),
            **({"postId": target.post_id} if target.post_id else {}),
            **({"url": target.url} if target.url else {}),
            # What the API said that pqdrop does not read (v2's target fields are undocumented): kept, not lost.
            **({"api": dict(target.extra)} if target.extra else {}),
        }
        for target in state.targets
    ]
    if outcome is ItemState.FAILED:
        result.error_code = "PLATFORM_FAILED"
        result.message = failure_reason(state, account_labels(state, listing) if listing else None)
        # TikTok's fail reason (T6) names the rule, and the table says what it means and what to do.
        codes = [target.error_code for target in state.targets if target.error_code]
        reasons = [code for code in codes if is_tiktok_code(code)]
        if reasons:
            result.error_code = reasons[0]
            meanings = "; ".join(dict.fromkeys(f"{code}: {answer_to(code).meaning}" for code in reasons))
            result.message = f"{result.message} (TikTok: {meanings})"
            if all(answer_to(code).reaction is Reaction.RETRY for code in reasons):
                result.message += f"; this passes, so `pqdrop retry {name}` posts it again"
    return result


def media_record(media: Uploaded) -> dict[str, Any]:
    return {"file": media.path, "contentId": media.content_id, "fingerprint": media.fingerprint}


def publish_body(content_ids: Sequence[str], targets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The body of POST /v1/content/publish; stored in the journal and sent unchanged on every retry."""
    return {"contentIds": list(content_ids), "targets": [dict(target) for target in targets]}


def result_from_status(status: Mapping[str, Any]) -> Result:
    """Rebuild a result from the status document recorded in the journal."""
    error = status.get("error") or {}
    return Result(
        name=str(status.get("item")),
        state=ItemState(status["state"]),
        publish_id=status.get("publishId"),
        idempotency_key=status.get("idempotencyKey"),
        error_code=error.get("code"),
        message=error.get("message"),
        note=status.get("note"),
        problems=list(status.get("problems", [])),
        targets=list(status.get("targets", [])),
        media=list(status.get("media", [])),
    )


def failed(name: str, error: ItemError) -> Result:
    """The result of an item refused for `error`, with each of its problems when it has several."""
    problems = [{"code": problem.code, "message": problem.message} for problem in error.problems]
    return Result(name, ItemState.FAILED, error_code=error.code, message=error.message, problems=problems)


def status_document(result: Result, now: datetime) -> dict[str, Any]:
    """The NAME.status.json body."""
    document: dict[str, Any] = {"item": result.name, "state": str(result.state), "updatedAt": iso_z(now)}
    if result.publish_id:
        document["publishId"] = result.publish_id
    if result.idempotency_key:
        document["idempotencyKey"] = result.idempotency_key
    if result.targets:
        document["targets"] = result.targets
    if result.media:
        document["media"] = result.media
    if result.note:
        document["note"] = shown(result.note)
    if result.state is ItemState.SENT:
        document["message"] = DRAFT_WAITS
    if result.state is ItemState.FAILED:
        # Shown as a person reads names: `caf\xe9.md: …`, a line feed in a name as `\n` (the item keeps its bytes).
        document["error"] = {"code": result.error_code or "FAILED", "message": shown(result.message or "failed")}
        if result.problems:  # a sidecar's several problems, one entry each (issue 22)
            document["problems"] = [{"code": problem["code"], "message": shown(problem["message"])}
                                    for problem in result.problems]
    return document



def _display(where: Any) -> str:
    return where.name if isinstance(where, Path) else str(where)
