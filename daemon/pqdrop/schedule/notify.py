"""Telling someone, wherever they are (issue 23): Apprise URLs, a command, a JSON POST.

What to say is pure: an `Event` (the item, what happened, what to do, the post's URLs), the `Gate`
that keeps storms out (one message per item and state, one per outage and one when it ends), and
`compose`, which groups many events of a kind at once into one message. Sending happens on one
background thread, each notifier within the configured timeout, so a notifier that hangs or fails
is logged and never holds posting up. The API key never leaves in a message: `scrub` takes it out.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pqdrop.config import API_KEY_ENV, NotifyConfig
from pqdrop.instants import parse_instant
from pqdrop.names import shown
from pqdrop.posting.publish import Result
from pqdrop.states import ItemState
from pqdrop.tally import TALLY

log = logging.getLogger("pqdrop.notify")

# More than this many events of one kind within GROUP_SECONDS go out as one message (no storms).
GROUP_OVER = 3
GROUP_SECONDS = 5.0
# How many (item, state) pairs the gate remembers; the oldest are forgotten first.
MEMORY = 4096
TITLE_NAME_WIDTH = 48  # a phone's lock screen shows about one line of title


class Kind(StrEnum):
    """What happened, as `[notify].on` names it (CONTRACT.md)."""

    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"
    PAUSED = "paused"
    RESUMED = "resumed"
    STUCK = "stuck"
    PUBLISHED = "published"
    SENT = "sent"
    SCHEDULED = "scheduled"
    CANCELED = "canceled"
    PACED = "paced"
    ACCEPTED = "accepted"


@dataclass(frozen=True)
class Event:
    """One thing a person may want to hear of: `item` ("" for posting as a whole), what happened, what to do."""

    kind: Kind
    item: str
    what: str
    todo: str = ""
    urls: tuple[str, ...] = ()
    publish_id: str | None = None
    reason: str | None = None
    cause: str = ""  # paused/resumed: which outage ("account", "postqued", "inbox")
    at: tuple[datetime, ...] = ()  # scheduled/paced: the moments, said in the configured zone
    headline: str = ""  # the title's word when the kind's own would mislead ("stuck" in a request, not arriving)

    def document(self) -> dict[str, Any]:
        """The JSON a command or URL notifier receives (the fields of pqdrop 0.1 first)."""
        return {"item": self.item, "state": str(self.kind), "publishId": self.publish_id, "reason": self.reason,
                "event": str(self.kind), "what": self.what, "todo": self.todo, "urls": list(self.urls)}


@dataclass(frozen=True)
class Message:
    """What goes out: a title a lock screen shows, a body, and the events it stands for."""

    title: str
    body: str
    events: tuple[Event, ...] = ()

    def document(self) -> dict[str, Any]:
        if len(self.events) == 1:
            return {**self.events[0].document(), "title": self.title, "message": self.body}
        kind = str(self.events[0].kind) if self.events else "test"
        return {"item": "", "state": kind, "event": kind, "title": self.title, "message": self.body,
                "items": [event.document() for event in self.events]}


@dataclass(frozen=True)
class Outcome:
    """How one notifier took a message."""

    notifier: str  # as it may be shown: an Apprise URL with its secrets hidden, "command", the URL's host
    ok: bool
    detail: str = ""


# --- events from what happened ----------------------------------------------------------------------


def result_event(result: Result) -> Event:
    """The event of an item's result: failed, published, sent, scheduled, accepted or canceled."""
    name = result.name
    urls = tuple(str(t["url"]) for t in result.targets if isinstance(t, dict) and t.get("url"))
    common: dict[str, Any] = {"item": name, "urls": urls, "publish_id": result.publish_id}
    match result.state:
        case ItemState.FAILED:
            reason = result.message or "failed"
            return Event(Kind.FAILED, what=f"failed: {reason}", reason=reason, todo=(
                f"its files are in failed/ with {name}.status.json; mend what the reason says, then "
                f"`pqdrop retry {name}` puts it back in the inbox"), **common)
        case ItemState.PUBLISHED:
            return Event(Kind.PUBLISHED, what="is live on the profile", todo="nothing to do", **common)
        case ItemState.SENT:
            return Event(Kind.SENT, what="was sent to the TikTok inbox as a draft", todo=(
                "open TikTok's inbox notification on the phone to finish the post"), **common)
        case ItemState.SCHEDULED:
            moments = tuple(sorted({parse_instant(str(t["dispatchAt"])) for t in result.targets
                                    if isinstance(t, dict) and t.get("dispatchAt") and t.get("status") == "scheduled"}))
            return Event(Kind.SCHEDULED, what="is scheduled", at=moments, todo=(
                f"nothing to do; `pqdrop reschedule {name} WHEN` or `pqdrop cancel {name}` changes it"), **common)
        case ItemState.CANCELED:
            return Event(Kind.CANCELED, what="was canceled; its files are in canceled/", todo="nothing to do",
                         **common)
        case ItemState.UNCONFIRMED:
            return unconfirmed_event(name, result.publish_id, urls)
        case _:
            return Event(Kind.ACCEPTED, what="was accepted by PostQued; the platform has not confirmed it yet",
                         todo="nothing yet: pqdrop keeps checking", **common)


def unconfirmed_event(name: str, publish_id: str | None, urls: Sequence[str] = (), waited: str = "") -> Event:
    """A post the platform has not confirmed within its bound: pqdrop keeps checking, slowly."""
    within = f" within {waited}" if waited else ""
    return Event(Kind.UNCONFIRMED, name, f"was not confirmed by the platform{within}", publish_id=publish_id,
                 urls=tuple(urls), todo=(
                     "look at the profile (or the TikTok inbox for a draft); pqdrop keeps checking every hour and "
                     "says when it is published, or fails"))


def paced_event(name: str, note: str) -> Event:
    """An item a daily cap holds back: it waits, and goes out by itself."""
    return Event(Kind.PACED, name, f"waits for a daily cap window ({note.removeprefix('paced: ')})",
                 todo="nothing to do: it goes out by itself then")


def stuck_event(name: str, reason: str) -> Event:
    return Event(Kind.STUCK, name, reason, reason=reason,
                 todo="look at the sync tool on the machine that sends it; pqdrop takes the file once it holds still")


def stuck_request_event(name: str, what: str) -> Event:
    """A worker stuck in a request past its deadline, where no guard reaches (a resolver, a disk)."""
    return Event(Kind.STUCK, name, f"is stuck in {what} past its deadline", reason=what, headline="stuck", todo=(
        "nothing at first: under systemd the watchdog restarts pqdrop and the item resumes at its step; if it "
        "comes back, look at this machine's network (DNS) and disks"))


def paused_event(cause: str, reason: str) -> Event:
    """Posting stopped for a cause (the key refused, PostQued unreachable, the inbox unreadable)."""
    advice = {
        "account": "mend the API key or the subscription in PostQued's dashboard; posting resumes by itself",
        "postqued": "nothing to do if it is PostQued's outage; check this machine's network otherwise",
        "inbox": "mount the share or mend the inbox's permissions; pqdrop looks again by itself",
    }
    return Event(Kind.PAUSED, "", f"posting paused: {reason}", reason=reason, cause=cause,
                 todo=advice.get(cause, "pqdrop tries again by itself"))


def resumed_event(cause: str) -> Event:
    return Event(Kind.RESUMED, "", "posting works again", cause=cause, todo="nothing to do")


# --- what goes out: pure ----------------------------------------------------------------------------


class Gate:
    """No storms: one message per item and state, and one per outage plus one when it ends.

    `outages` are those said before (by an earlier `pqdrop once`, say): their end is still said, they are not again.
    """

    def __init__(self, outages: Iterable[str] = ()) -> None:
        self._said: dict[tuple[str, str, str | None, str | None], None] = {}
        self._outages: set[str] = set(outages)

    @property
    def outages(self) -> frozenset[str]:
        """The causes of the pauses said and not ended yet."""
        return frozenset(self._outages)

    def admit(self, event: Event) -> bool:
        if event.kind is Kind.PAUSED:
            if event.cause in self._outages:
                return False
            self._outages.add(event.cause)
            return True
        if event.kind is Kind.RESUMED:
            if event.cause not in self._outages:
                return False
            self._outages.discard(event.cause)
            return True
        key = (str(event.kind), event.item, event.publish_id, event.reason)
        if key in self._said:
            return False
        self._said[key] = None
        while len(self._said) > MEMORY:
            del self._said[next(iter(self._said))]
        return True


def compose(events: Sequence[Event], zone: ZoneInfo, group_over: int = GROUP_OVER) -> list[Message]:
    """One message per event, except a kind with more than `group_over` events: one message for all of them."""
    kinds: dict[Kind, list[Event]] = {}
    for event in events:
        kinds.setdefault(event.kind, []).append(event)
    messages = []
    for kind, group in kinds.items():
        if len(group) > group_over:
            lines = [" ".join([f"- {shown(event.item)}: {_what(event, zone)}", *event.urls]) for event in group]
            todo = group[0].todo if all(event.todo == group[0].todo for event in group) else ""
            if kind is Kind.FAILED:
                todo = "their files are in failed/ with a .status.json each; `pqdrop retry --all` once mended"
            body = "\n".join([f"{len(group)} items {kind}:", *lines, *([f"What to do: {todo}"] if todo else [])])
            messages.append(Message(f"pqdrop: {len(group)} items {kind}", body, tuple(group)))
        else:
            messages += [message_of(event, zone) for event in group]
    return messages


def message_of(event: Event, zone: ZoneInfo) -> Message:
    """The title ("pqdrop: launch.mp4 failed") and the body: what happened, what to do, the post's URLs."""
    subject = _title_name(event.item) if event.item else "posting"
    title = f"pqdrop: {subject} {event.headline or _title_word(event.kind)}"
    first = f"{shown(event.item)} {_what(event, zone)}" if event.item else _what(event, zone)
    lines = [first[0].upper() + first[1:] if event.item == "" else first]
    if event.todo:
        lines.append(f"What to do: {event.todo}")
    lines += list(event.urls)
    return Message(title, "\n".join(lines), (event,))


def trial_message(now: datetime, zone: ZoneInfo) -> Message:
    """What `pqdrop notify --test` sends."""
    moment = now.astimezone(zone)
    return Message("pqdrop: test message", f"A test from pqdrop at {moment:%Y-%m-%d %H:%M %Z}: this notifier "
                   "reaches you. Nothing to do.")


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret (the API key) written as [hidden]."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "[hidden]")
    return text


def _what(event: Event, zone: ZoneInfo) -> str:
    if event.at:
        return f"{event.what} for {', '.join(_local(moment, zone) for moment in event.at)}"
    return event.what


def _title_word(kind: Kind) -> str:
    return {Kind.STUCK: "stuck arriving", Kind.SENT: "sent as a draft", Kind.PACED: "waits for a cap window"}.get(
        kind, str(kind))


def _title_name(name: str) -> str:
    name = shown(name)
    return name if len(name) <= TITLE_NAME_WIDTH else name[: TITLE_NAME_WIDTH - 1] + "…"


def _local(moment: datetime, zone: ZoneInfo) -> str:
    """`2026-12-01 18:00 CET`: the configured zone, with its name."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"


# --- sending ----------------------------------------------------------------------------------------


class Notifier:
    """Sends events in the background, grouped over `group_seconds`, each notifier within the timeout."""

    def __init__(
        self,
        config: NotifyConfig,
        zone: ZoneInfo | None = None,
        *,
        secrets: Sequence[str] = (),
        group_seconds: float = GROUP_SECONDS,
        outages: Iterable[str] = (),
        remember_outages: Callable[[frozenset[str]], None] = lambda outages: None,
    ) -> None:
        """`outages` said by an earlier process, and `remember_outages` to keep them for the next (the journal)."""
        self._config = config
        self._remember_outages = remember_outages
        self._zone = zone or ZoneInfo("UTC")
        self._secrets = tuple(secrets)
        self._group_seconds = group_seconds
        self._gate = Gate(outages)
        self._queue: queue.Queue[Event | None] = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def reconfigure(self, config: NotifyConfig, zone: ZoneInfo | None = None) -> None:
        """Take a reloaded `[notify]`: the next message sent (and any still queued) follows it."""
        self._config = config
        self._zone = zone or self._zone

    def send(self, event: Event) -> None:
        """Queue an event; never blocks the caller. Whether it is wanted, and said already, is judged later."""
        if not self._config.configured:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._drain, name="pqdrop-notify", daemon=True)
                self._thread.start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("notification for %s dropped: %d are already waiting", shown(event.item), self._queue.qsize())

    def close(self, timeout: float = 3.0) -> None:
        """Send what is queued now (no more grouping) for up to `timeout` seconds: a stop stays within systemd's
        TimeoutStopSec even while a notifier hangs (the workers' grace is 8 s of its 15)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)

    def _drain(self) -> None:
        closing = False
        while not closing:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self._group_seconds
            while (left := deadline - time.monotonic()) > 0:
                try:
                    event = self._queue.get(timeout=left)
                except queue.Empty:
                    break
                if event is None:
                    closing = True
                    break
                batch.append(event)
            before = self._gate.outages
            wanted = [event for event in batch if self._gate.admit(event) and str(event.kind) in self._config.on]
            if self._gate.outages != before:
                try:
                    self._remember_outages(self._gate.outages)
                except Exception as exc:  # noqa: BLE001 - a journal closed under a late message costs the memory only
                    log.debug("could not remember the outages said: %s", exc)
            for message in compose(wanted, self._zone):
                outcomes = deliver(message, self._config, self._secrets)
                for outcome in outcomes:
                    if not outcome.ok:
                        log.warning("notifier %s did not take %r: %s", outcome.notifier, message.title,
                                    outcome.detail)
                # /metrics' pqdrop_notifications: sent when every notifier took it, else failed.
                TALLY.add("notifications", outcome="sent" if all(o.ok for o in outcomes) else "failed")


def deliver(message: Message, config: NotifyConfig, secrets: Sequence[str] = ()) -> list[Outcome]:
    """Send one message through every configured notifier, one after the other; how each took it."""
    message = Message(scrub(message.title, secrets), scrub(message.body, secrets), message.events)
    document = json.loads(scrub(json.dumps(message.document()), [json.dumps(s)[1:-1] for s in secrets]))
    outcomes = []
    for url in config.urls:
        outcomes.append(_apprise(url, message, config.timeout_seconds))
    if config.command:
        outcomes.append(_run_command(config.command, document, config.timeout_seconds))
    if config.url:
        outcomes.append(_post(config.url, document, config.timeout_seconds))
    return outcomes


def _apprise(url: str, message: Message, timeout: float) -> Outcome:
    import apprise  # heavy (requests, markdown): only a process that sends loads it

    logging.getLogger("apprise").setLevel(logging.CRITICAL)  # it logs URLs; pqdrop says the outcome itself
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None or isinstance(plugin, bool):
        scheme = url.split("://", 1)[0]
        return Outcome(f"{scheme}://…", False, (
            f"[notify].urls has {scheme}://… that Apprise cannot read; see docs/how-to/notifications.md for the "
            "form of each service's URL"))
    # Its secrets hidden, without Apprise's own settings (?method=POST&overflow=...): the URL as the user wrote it.
    shown_url = str(plugin.url(privacy=True)).split("?", 1)[0]  # type: ignore[no-untyped-call]
    query = urlsplit(url).query
    if "cto=" not in query:
        plugin.socket_connect_timeout = timeout
    if "rto=" not in query:
        plugin.socket_read_timeout = timeout
    try:
        ok = bool(plugin.notify(body=message.body, title=message.title))
    except Exception as exc:  # noqa: BLE001 - a plugin's fault is one notifier's, never the daemon's
        return Outcome(shown_url, False, f"{type(exc).__name__}: {exc}")
    return Outcome(shown_url, ok, "" if ok else "the service refused it or did not answer in time")


def _run_command(command: str, document: Mapping[str, Any], timeout: float) -> Outcome:
    environment = {key: value for key, value in os.environ.items() if key != API_KEY_ENV}
    environment.update(
        PQDROP_ITEM=str(document.get("item") or ""),
        PQDROP_STATE=str(document.get("state") or ""),
        PQDROP_REASON=str(document.get("reason") or ""),
        PQDROP_TITLE=str(document.get("title") or ""),
        PQDROP_MESSAGE=str(document.get("message") or ""),
    )
    try:
        completed = subprocess.run(
            command, shell=True, input=json.dumps(document), text=True, env=environment,
            capture_output=True, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired:
        return Outcome("command", False, f"took longer than {timeout:g} s; stopped it")
    except OSError as exc:
        return Outcome("command", False, f"could not start: {exc}")
    if completed.returncode != 0:
        return Outcome("command", False, f"exited {completed.returncode}: {completed.stderr.strip()[:200]}")
    return Outcome("command", True)


def _post(url: str, document: Mapping[str, Any], timeout: float) -> Outcome:
    # The standard library is enough for one small POST; httpx stays the API client's alone.
    where = urlsplit(url)
    name = f"url {where.scheme}://{where.hostname}{f':{where.port}' if where.port else ''}"
    request = urllib.request.Request(
        url, data=json.dumps(document).encode(), method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "pqdrop"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            reply.read(1024)
    except urllib.error.HTTPError as exc:
        return Outcome(name, False, f"answered HTTP {exc.code}")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return Outcome(name, False, str(getattr(exc, "reason", exc)))
    return Outcome(name, True)


@dataclass
class Outage:
    """How long PostQued has not answered: after `bound`, a pause worth a message (pure; the clock is given)."""

    bound: timedelta = timedelta(minutes=15)
    since: datetime | None = None
    said: bool = field(default=False)

    def failed(self, now: datetime) -> bool:
        """One more request that found no answer; True the first time the outage is past its bound."""
        self.since = self.since or now
        if not self.said and now - self.since >= self.bound:
            self.said = True
            return True
        return False

    def answered(self) -> bool:
        """PostQued answered; True when an outage had been said (so its end is said too)."""
        said, self.since, self.said = self.said, None, False
        return said
