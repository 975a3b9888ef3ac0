"""One item's way from the inbox to sent/ or failed/: claim, check, upload, publish, follow, file.

Each step is written to the journal before the next begins, so `resume` can carry an item on
from wherever a crash or a stop left it: no media is uploaded twice, a publish is only ever
retried with its recorded key and body, and a move is finished rather than redone.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pqdrop.config import Config
from pqdrop.errors import (
    ApiRejected,
    Interrupted,
    ItemError,
    KeyInText,
    MediaError,
    Postponed,
    PqdropError,
    SidecarError,
)
from pqdrop.folders.claim import (
    ClaimName,
    claim_dir,
    give_back,
    mark_filing,
    own_claim_dir,
    processing_dir,
    release,
    take,
)
from pqdrop.folders.filing import append_status_log, ensure_folder, file_claim, free_stem
from pqdrop.inbox.items import Item, claim_entries
from pqdrop.journal.edits import EditLog
from pqdrop.journal.store import Journal, Record
from pqdrop.media.probe import MediaInfo, fingerprint
from pqdrop.posting.accounts import AccountCheck
from pqdrop.posting.creators import CreatorInfos, fetcher_of
from pqdrop.posting.pacing import pace_targets, pacing_note
from pqdrop.posting.photos import conversion_note, tiktok_photo
from pqdrop.posting.prepare import left_out, prepare_item
from pqdrop.posting.publish import (
    Result,
    Uploaded,
    failed,
    idempotency_key,
    media_record,
    post_fingerprint,
    publish_body,
    result_from_state,
    result_from_status,
    retry_key,
    status_document,
    target_body,
)
from pqdrop.posting.slots import reserve_slots
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.types import Account, PublishState
from pqdrop.secrecy import SECRETS
from pqdrop.sidecar.parse import Sidecar
from pqdrop.sidecar.source import SidecarSource
from pqdrop.states import OK_TARGET_STATES, UNPUBLISHED_STEPS, ItemState, Step, waits_for_dispatch

log = logging.getLogger("pqdrop")

Clock = Callable[[], datetime]
REPOST_WINDOW = timedelta(days=7)
MAX_RETRY_GENERATIONS = 1000  # earlier failures of one post looked at; a bound, not a limit anyone meets
# The first look at a new publish's status, then x1.5 each time up to 10 s. (A first look at 0.1 s
# once made the two-daemon kill storm of tests/test_crash.py file items twice; the races it exposed,
# in a twin's return of a stopped daemon's claims, are fixed in recovery.py and pipeline.resume.)
FOLLOW_FIRST_SECONDS = 0.5
FOLLOW_GROWTH = 1.5
FOLLOW_CAP_SECONDS = 10.0
Progress = Callable[[str, int, int], None]

ALREADY_POSTED = (
    "already posted from elsewhere: PostQued holds a different publish under this item's content-derived "
    "Idempotency-Key (another pqdrop on the same folder, within 24 h)"
)


def now_utc() -> datetime:
    return datetime.now(UTC)


class Pipeline:
    """Carries items through the steps, using one API client, one journal and one inbox."""

    def __init__(
        self,
        config: Config,
        client: PostQued,
        journal: Journal,
        owner: str,
        *,
        clock: Clock = now_utc,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self._inbox = config.inbox.path
        self._client = client
        self._converted: dict[int, str] = {}  # item id -> conversion_note, from its upload step to its status file
        self._journal = journal
        self._owner = owner
        self._clock = clock
        self._stop = stop or threading.Event()
        self._progress = progress
        self._heartbeat = heartbeat or (lambda: None)
        # Each account's own TikTok rules, from creator info where the API dialect relays it (v2).
        self.creators = CreatorInfos(fetcher_of(client), clock)
        self.online = AccountCheck(client, self.creators, config.postqued.api)

    def reconfigure(self, config: Config) -> None:
        """Take a reloaded config; the inbox and the API client stay as they are."""
        self._config = config

    # --- claiming ----------------------------------------------------------------------------

    def process(self, item: Item) -> Result | None:
        """Claim a ready item and take it to its end; None when another process claimed it first."""
        record = self.claim(item)
        return None if record is None else self.resume(record)

    def claim(self, item: Item) -> Record | None:
        """Journal first, then the rename: a crash in between leaves a record the sweep can settle."""
        claim = str(ClaimName.new(item.name, self._owner))
        # processing/ replaced by a link would take the item out of the inbox: InboxBlocked, nothing claimed.
        ensure_folder(processing_dir(self._inbox), self._config.inbox.filing_links)
        record_id = self._journal.begin_claim(item.name, claim, item)
        try:
            taken = take(self._inbox, item, claim)
        except OSError:
            if not claim_dir(self._inbox, claim).exists():  # nothing moved (a read-only inbox): no record to sweep
                self._journal.forget(record_id)
            raise
        if not taken:
            self._journal.forget(record_id)
            return None
        self._journal.set_state(record_id, Step.CLAIMED)
        return self._journal.get(record_id)

    # --- the steps -----------------------------------------------------------------------------

    def resume(self, record: Record) -> Result | None:
        """Carry a claimed item on from its recorded step to sent/ or failed/; None when its files were taken away."""
        if record.state is not Step.FILING:
            result = self._outcome(record)
            if not claim_dir(self._inbox, record.claim).is_dir():
                self._taken_away(record)
                return None
            # From here on a twin's sweep leaves the claim to this pqdrop, even should it die.
            mark_filing(self._inbox, record.claim)
            record = self._plan_filing(record, result)
        return self._finish(record)

    def _taken_away(self, record: Record) -> None:
        """The claim folder went before filing: a twin's sweep found this pqdrop dead and returned the files.

        Whoever took them files them; a publish made here is found by its content-derived key, so
        the twin does not post it again. Filing here would write a status file naming files that are not there.
        """
        reason = "its files were taken back into the inbox (by another pqdrop that found this one stopped)"
        self._journal.set_state(record.id, Step.RETURNED, error=reason)
        log.warning("%s: %s; not filing it here", record.name, reason)

    def give_back(self, record: Record, reason: str) -> bool:
        """Return an item that was not published yet to the inbox, to be tried afresh later."""
        if record.state not in UNPUBLISHED_STEPS:
            return False
        # Written ahead, like a claim: a crash between the moves leaves RETURNING for the sweep to finish.
        self._journal.set_state(record.id, Step.RETURNING, error=reason)
        try:
            taken = give_back(self._inbox, record.claim)
        except OSError:
            if all((claim_dir(self._inbox, record.claim) / name).exists() for name in claim_entries(record.item)):
                self._journal.set_state(record.id, record.state)  # nothing moved (a read-only inbox): resumes
            raise  # else RETURNING: the sweep finishes the return, as after a crash
        if taken:
            self._journal.set_state(record.id, record.state)  # a name is taken in the inbox: nothing moved
            return False
        self._journal.set_state(record.id, Step.RETURNED)
        self._log(record.name, ItemState.WAITING, reason=reason)
        return True

    def _outcome(self, record: Record) -> Result:
        """Upload, publish and follow as far as the record still needs; item errors become a failed result."""
        try:
            if record.state in UNPUBLISHED_STEPS:
                record = self._upload_step(record)
            if record.state is Step.PUBLISHING:
                record = self._publish_step(record)
            state = self._follow(str(record.publish_id))
            result = result_from_state(record.name, state, str(record.idempotency_key), self._client.platform_accounts)
            notes = (pacing_note(self._journal.paced_posts(record.id), self._config),
                     self._converted.get(record.id), left_out(record.item))
            result.note = "; ".join(note for note in notes if note) or None
            return result
        except ApiRejected as exc:
            if exc.code == "IDEMPOTENCY_CONFLICT":
                return Result(record.name, ItemState.ACCEPTED, idempotency_key=record.idempotency_key,
                              note=ALREADY_POSTED)
            return Result(record.name, ItemState.FAILED, error_code=exc.code, message=exc.message)
        except ItemError as exc:
            return failed(record.name, exc)
        finally:
            self._converted.pop(record.id, None)

    def _upload_step(self, record: Record) -> Record:
        """Check the item, upload what is not in storage yet, then fix the publish key and body."""
        item = record.item
        root = claim_dir(self._inbox, record.claim)
        if record.state is Step.CLAIMED:
            self._journal.set_state(record.id, Step.UPLOADING)
        now = self._clock()
        # Below processing/ nothing is followed: a claim folder swapped for a link is refused, never read through.
        sidecar, media, accounts = self.prepared(root, item, record.name, now, trusted=processing_dir(self._inbox))
        if sidecar.cancel:
            raise SidecarError(f"{sidecar.path.name if sidecar.path else record.name}: cancel: true cancels a post "
                               "waiting in scheduled/; this item is not posted yet: remove the line to post it",
                               code="SIDECAR_VALUE")
        if sidecar.text is not None:  # what any later edit in scheduled/ is judged against: what was read
            EditLog(self._journal).posted_with(record.id, sidecar.text, sidecar.digest, now)
        prints = [fingerprint(info) for info in media]  # the files probed, or MediaError saying they were swapped
        converted = conversion_note(media)
        if converted:  # said in the status file (kept for this process: one that resumes after a crash says not)
            self._converted[record.id] = converted
        self._refuse_repeat(record, prints, sorted(account.id for account in accounts.values()), sidecar.repost)
        done = self._journal.uploads(record.id)
        uploaded = []
        logged = False
        for rel, info, print_ in zip(item.media, media, prints, strict=False):
            if str(rel) not in done:
                content_id = self._journal.adopt_upload(record.id, str(rel), print_)
                if content_id is None:
                    if not logged:  # status.log says uploading when a byte is about to go, not while checking
                        self._log(record.name, ItemState.UPLOADING)
                        logged = True
                    content_id = self._upload(info)
                    self._journal.record_upload(record.id, str(rel), content_id, print_)
                done[str(rel)] = (content_id, print_)
            uploaded.append(Uploaded(str(rel), *done[str(rel)]))
        # `dispatchAt: next` becomes the reserved slot here, so the recorded body (and every retry) carries it.
        sidecar = reserve_slots(self._journal, record.id, sidecar, accounts, self._config, self._clock())
        # A TikTok target beyond its account's daily cap is scheduled for when the window frees (issue 13).
        sidecar = pace_targets(self._journal, record.id, sidecar, accounts, self._config, self._clock())
        targets = [target_body(target, accounts[target.key]) for target in sidecar.targets]
        content_key = idempotency_key([media.fingerprint for media in uploaded], targets, sidecar.repost)
        targets, key = self._attempt(record, content_key, targets)
        body = publish_body([media.content_id for media in uploaded], targets)
        if (leak := SECRETS.where(body)) is not None:  # whatever put it there: never recorded, never sent
            raise KeyInText(f"{record.name}: the post's {leak} holds the API key; pqdrop never posts it")
        self._journal.record_publish_intent(record.id, key, body)
        self._log(record.name, ItemState.PUBLISHING, idempotencyKey=key)
        return self._journal.get(record.id)

    def _attempt(
        self, record: Record, key: str, targets: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], str]:
        """The targets and key of this attempt: a retry after a final failure is a new publish, never a replay.

        The content-derived key is what makes a crash-resume or a twin replay the same publish. An
        item retried (by `pqdrop retry` or moved back) after its publish failed would get the same
        key, and the API would answer with the failed publish; so each earlier failure under the key
        leads to a key derived from it, and targets already published then are not posted again.
        A crash-resume finds the same earlier failures, so it still gets the same key.
        """
        for _ in range(MAX_RETRY_GENERATIONS):
            earlier = self._journal.failed_under(key, record.id)
            if earlier is None:
                break
            done = {t.get("accountId") for t in (earlier.status or {}).get("targets") or []
                    if t.get("status") in OK_TARGET_STATES}
            targets = [t for t in targets if t["accountId"] not in done] or targets
            key = retry_key(key, targets)
        return targets, key

    def _refuse_repeat(self, record: Record, prints: Sequence[str], account_ids: list[str], repost: bool) -> None:
        """The same media to the same accounts: wait while the first copy is in flight, refuse it within 7 days."""
        post = post_fingerprint(prints, account_ids)
        earlier = self._journal.note_post(record.id, post, REPOST_WINDOW)
        if repost or earlier is None:
            return
        if earlier.destination not in ("sent", "scheduled"):
            raise Postponed(f"{record.name}: the same media as {earlier.name} is being posted to the same account(s); "
                            f"waiting for it (then this one is a repeat: repost: true in its sidecar posts it again)")
        raise ItemError(
            f"{record.name}: the same media went to the same account(s) as {earlier.name} on "
            f"{earlier.updated_at[:10]} (publish {earlier.publish_id}); set `repost: true` in the sidecar "
            "to post it again",
            code="DUPLICATE",
        )

    def _publish_step(self, record: Record) -> Record:
        """Send the recorded body under the recorded key: a retry after a lost reply is a replay."""
        body = record.publish_body or {}
        self._check_stop()
        self._journal.note_publish_attempt(record.id)
        state = self._client.publish(body["contentIds"], body["targets"], str(record.idempotency_key))
        self._journal.record_publish_id(record.id, state.publish_id)
        self._log(record.name, ItemState.FOLLOWING, publishId=state.publish_id)
        return self._journal.get(record.id)

    def _follow(self, publish_id: str) -> PublishState:
        """Poll until every target is final or only waits for its dispatchAt, within follow_seconds."""
        state = self._client.publish_status(publish_id)
        deadline = time.monotonic() + self._config.postqued.follow_seconds
        delay = FOLLOW_FIRST_SECONDS
        while not state.settled and not waits_for_dispatch(state, self._clock()):
            if time.monotonic() + delay > deadline:
                break
            self._heartbeat()
            if self._stop.wait(delay):
                raise Interrupted(f"stopping while following publish {publish_id}")
            delay = min(delay * FOLLOW_GROWTH, FOLLOW_CAP_SECONDS)
            state = self._client.publish_status(publish_id)
        return state

    def _plan_filing(self, record: Record, result: Result) -> Record:
        """Fix the destination, the free name and the status document before the first move."""
        uploads = self._journal.uploads(record.id)
        result.publish_id = result.publish_id or record.publish_id
        result.idempotency_key = result.idempotency_key or record.idempotency_key
        order = [str(path) for path in record.item.media]  # the carousel's order, as posted
        result.media = [media_record(Uploaded(path, *uploads[path])) for path in order if path in uploads]
        status = status_document(result, self._clock())
        folder = self._inbox / result.state.folder
        stem = free_stem(folder, record.name, claim_entries(record.item))
        self._journal.record_filing(record.id, result.state.folder, stem, status)
        return self._journal.get(record.id)

    def _finish(self, record: Record) -> Result:
        """Move the files and write the status file; repeatable until it has fully happened."""
        status = record.status or {}
        source = own_claim_dir(self._inbox, record.claim)  # never moved from through a link: InboxBlocked
        folder = self._inbox / str(record.destination)
        path = file_claim(source, folder, record.name, str(record.stem), claim_entries(record.item), status,
                          links=self._config.inbox.filing_links)
        release(self._inbox, record.claim)
        result = result_from_status(status)
        # Scheduled or unconfirmed posts stay in the journal for the tracker to follow to the end.
        followed = result.state in (ItemState.SCHEDULED, ItemState.ACCEPTED) and result.publish_id
        self._journal.set_state(record.id, Step.TRACKING if followed else Step.DONE)
        if result.state is ItemState.FAILED and record.publish_id is None:
            self._discard_unused(record)
        result.status_file = path
        # The targets give status.log (and `pqdrop status --history`) the post's URL and its dispatchAt.
        self._log(record.name, result.state, publishId=result.publish_id, error=status.get("error"),
                  problems=status.get("problems"), note=result.note, targets=status.get("targets"))
        return result

    def _discard_unused(self, record: Record) -> None:
        """Delete on PostQued what a failed item uploaded and no publish used; a refusal only costs a warning."""
        for path, (content_id, _) in sorted(self._journal.uploads(record.id).items()):
            try:
                self._client.delete_content(content_id)
            except PqdropError as exc:
                log.warning("%s: could not delete the unused upload of %s (%s): %s",
                            record.name, path, content_id, exc.message)

    def prepared(
        self, root: Path, item: Item, name: str, now: datetime, source: SidecarSource | None = None, *,
        trusted: Path | None = None,
    ) -> tuple[Sidecar, tuple[MediaInfo, ...], dict[str, Account]]:
        """Everything a post is checked against before any upload, as of `now`: the sidecar, TikTok's rules,
        the media, the accounts and their creator info; an edit in scheduled/ passes the same (editor.py).

        Raises ItemError (or ApiRejected for an account the key cannot reach) naming the file and the rule.
        """
        sidecar, media = prepare_item(root, item, self._config.defaults, now, accounts=self._config.accounts,
                                      schedule=self._config.schedule, source=source, trusted=trusted)
        return sidecar, media, self.online.check(sidecar, media, name)

    # --- helpers -------------------------------------------------------------------------------

    def _upload(self, info: MediaInfo) -> str:
        """Send one media; returns its contentId."""
        self._check_stop()
        if info.kind == "image":
            with tiktok_photo(info, self._config.state.dir) as photo:  # a PNG goes up as a JPEG
                return self._client.upload_photo(photo.path, photo.mime, photo.size, width=photo.width,
                                                 height=photo.height, max_rate=self._config.upload.max_rate,
                                                 identity=photo.identity)
        if info.duration_ms is None:
            raise MediaError(f"{info.path.name}: the video's duration could not be read")
        # A URL that expired while the item waited (a retry, the bandwidth cap) gets a new session (in the dialect).
        return self._client.upload_video(
            info.path, info.mime, info.size, width=info.width, height=info.height, duration_ms=info.duration_ms,
            progress=self._upload_progress(info.path.name), max_rate=self._config.upload.max_rate,
            identity=info.identity,  # the PUT reads the file probed, or fails the item saying it was swapped
        )

    def _upload_progress(self, name: str) -> Callable[[int, int], None]:
        """Reports progress and, on a stop request, breaks the upload off (it restarts on resume)."""

        def report(sent: int, total: int) -> None:
            self._check_stop()
            self._heartbeat()
            if self._progress is not None:
                self._progress(name, sent, total)

        return report

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise Interrupted

    def _log(self, name: str, state: ItemState, **fields: Any) -> None:
        record = {"item": name, "state": str(state), **{k: v for k, v in fields.items() if v is not None}}
        append_status_log(self._inbox, record, self._clock())
