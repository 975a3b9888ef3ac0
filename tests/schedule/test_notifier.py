"""Notifications: Apprise URLs (json:// to a receiver on loopback), a command and a URL, in the background;
one message per item and state, one per outage and its end, many at once grouped; never the API key."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.conftest import SANDBOX_KEY, make_client, sidecar, wait_until, write_config

from pqdrop.config import NotifyConfig, load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.posting.publish import Result
from pqdrop.sandbox import Sandbox
from pqdrop.schedule.notify import (
    Event,
    Kind,
    Notifier,
    paced_event,
    paused_event,
    result_event,
    resumed_event,
    stuck_event,
    unconfirmed_event,
)
from pqdrop.service.workers import EXIT_FAILED, EXIT_OK, Workers, once
from pqdrop.states import ItemState

BERLIN = ZoneInfo("Europe/Berlin")
EVERY_KIND = tuple(str(kind) for kind in Kind)


class Receiver:
    """A tiny HTTP server that records what Apprise's json:// (or the plain URL notifier) POSTs to it."""

    def __init__(self, *, hang: threading.Event | None = None) -> None:
        self.received: list[dict[str, Any]] = []
        self.holding = threading.Event()  # set while a request is held by `hang`
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                if hang is not None:
                    receiver.holding.set()
                    hang.wait(30)
                receiver.received.append({"path": self.path, **body})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    @property
    def titles(self) -> list[str]:
        return [str(message["title"]) for message in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def notifier_to(receiver: Receiver, *, on: tuple[str, ...] = EVERY_KIND, secrets: tuple[str, ...] = (),
                group_seconds: float = 0.0) -> Notifier:
    config = NotifyConfig(urls=(receiver.url(),), on=on, timeout_seconds=5.0)  # type: ignore[arg-type]
    return Notifier(config, BERLIN, secrets=secrets, group_seconds=group_seconds)


def published(name: str = "launch.mp4") -> Result:
    return Result(name, ItemState.PUBLISHED, publish_id="pub_1", targets=[
        {"id": "t1", "accountId": "acc", "status": "published", "url": "https://www.tiktok.com/@mybrand/video/7301"}])


EVENTS: dict[str, tuple[Event, str, tuple[str, ...]]] = {
    # kind: the event, the title a lock screen shows, what the body must say
    "failed": (result_event(Result("launch.mp4", ItemState.FAILED, message="launch.md: intent: 'nope' is not "
                                   "one of draft, publish")),
               "pqdrop: launch.mp4 failed", ("intent: 'nope'", "pqdrop retry launch.mp4", "failed/")),
    "published": (result_event(published()), "pqdrop: launch.mp4 published",
                  ("is live", "https://www.tiktok.com/@mybrand/video/7301")),
    "sent": (result_event(Result("draft.mp4", ItemState.SENT, publish_id="pub_2")), "pqdrop: draft.mp4 sent as a draft",
             ("TikTok inbox", "finish the post")),
    "scheduled": (result_event(Result("later.mp4", ItemState.SCHEDULED, publish_id="pub_3", targets=[
        {"id": "t", "accountId": "a", "status": "scheduled", "dispatchAt": "2030-06-01T18:00:00Z"}])),
        "pqdrop: later.mp4 scheduled", ("2030-06-01 20:00 CEST", "pqdrop cancel later.mp4")),
    "canceled": (result_event(Result("gone.mp4", ItemState.CANCELED, publish_id="pub_4")),
                 "pqdrop: gone.mp4 canceled", ("canceled/",)),
    "unconfirmed": (unconfirmed_event("slow.mp4", "pub_5", waited="2 h"), "pqdrop: slow.mp4 unconfirmed",
                    ("within 2 h", "keeps checking every hour")),
    "paused": (paused_event("account", "the API key was refused (UNAUTHORIZED)"), "pqdrop: posting paused",
               ("Posting paused: the API key was refused", "API key")),
    "stuck": (stuck_event("big.mp4", "still arriving for 3 h"), "pqdrop: big.mp4 stuck arriving",
              ("still arriving for 3 h", "sync tool")),
    "paced": (paced_event("capped.mp4", "paced: @mybrand has had 15 direct posts in 24 h; it waits until "
                          "2030-06-02T09:00Z"), "pqdrop: capped.mp4 waits for a cap window",
              ("15 direct posts", "nothing to do")),
    "accepted": (result_event(Result("acc.mp4", ItemState.ACCEPTED, publish_id="pub_6")), "pqdrop: acc.mp4 accepted",
                 ("has not confirmed it yet",)),
}


@pytest.mark.parametrize("kind", sorted(EVENTS))
def test_each_kind_of_event_reaches_an_apprise_url_with_a_title_and_what_to_do(receiver: Receiver, kind: str) -> None:
    event, title, said = EVENTS[kind]
    notifier = notifier_to(receiver)
    notifier.send(event)
    notifier.close()
    [message] = receiver.received
    assert message["title"] == title
    assert message["path"] == "/hook"
    for words in said:
        assert words in message["message"]
    assert (kind == "published") == ("https://" in message["message"])


def test_resumed_is_said_after_its_pause_and_once_per_outage(receiver: Receiver) -> None:
    notifier = notifier_to(receiver)
    notifier.send(resumed_event("account"))  # no pause was said: nothing ended
    for _ in range(3):
        notifier.send(paused_event("account", "the API key was refused (UNAUTHORIZED)"))
    notifier.send(resumed_event("account"))
    notifier.send(resumed_event("account"))
    notifier.send(paused_event("account", "the subscription lapsed (SUBSCRIPTION_REQUIRED)"))  # a second outage
    notifier.close()
    assert receiver.titles == ["pqdrop: posting paused", "pqdrop: posting resumed", "pqdrop: posting paused"]
    assert "works again" in receiver.received[1]["message"]


def test_one_message_per_item_and_state(receiver: Receiver) -> None:
    notifier = notifier_to(receiver)
    for _ in range(3):
        notifier.send(result_event(published()))
        notifier.send(stuck_event("big.mp4", "still arriving for 3 h"))
    notifier.send(result_event(published("other.mp4")))
    notifier.close()
    assert receiver.titles == ["pqdrop: launch.mp4 published", "pqdrop: big.mp4 stuck arriving",
                               "pqdrop: other.mp4 published"]


def test_many_failures_at_once_are_grouped_into_one_message(receiver: Receiver) -> None:
    notifier = notifier_to(receiver, group_seconds=30.0)  # close() ends the wait: all five are in one batch
    for number in range(5):
        notifier.send(result_event(Result(f"clip-{number}.mp4", ItemState.FAILED, message=f"reason {number}")))
    notifier.send(result_event(published()))
    notifier.close()
    assert receiver.titles == ["pqdrop: 5 items failed", "pqdrop: launch.mp4 published"]
    body = receiver.received[0]["message"]
    assert [line for line in body.splitlines() if line.startswith("- ")] == [
        f"- clip-{number}.mp4: failed: reason {number}" for number in range(5)]
    assert "pqdrop retry --all" in body


def test_metrics_count_messages_sent_and_failed(receiver: Receiver) -> None:
    from pqdrop.tally import TALLY

    sent, failed = TALLY.value("notifications", outcome="sent"), TALLY.value("notifications", outcome="failed")
    config = NotifyConfig(urls=(receiver.url(), "json://127.0.0.1:9/down"), on=("failed",), timeout_seconds=2.0)
    notifier = Notifier(config, group_seconds=0.0)
    notifier.send(result_event(Result("clip", ItemState.FAILED, message="why")))
    notifier.close()
    assert len(receiver.received) == 1  # the receiver that is up got it; the one down did not
    assert TALLY.value("notifications", outcome="sent") == sent
    assert TALLY.value("notifications", outcome="failed") == failed + 1


def test_many_posts_published_at_once_are_one_message_with_each_url(receiver: Receiver) -> None:
    notifier = notifier_to(receiver, group_seconds=30.0)
    for number in range(4):
        notifier.send(result_event(Result(f"clip-{number}", ItemState.PUBLISHED, publish_id=f"p{number}", targets=[
            {"id": "t", "status": "published", "url": f"https://www.tiktok.com/@me/video/{number}"}])))
    notifier.close()
    assert receiver.titles == ["pqdrop: 4 items published"]
    assert [line for line in receiver.received[0]["message"].splitlines() if line.startswith("- ")] == [
        f"- clip-{number}: is live on the profile https://www.tiktok.com/@me/video/{number}" for number in range(4)]


def test_three_failures_at_once_are_said_one_by_one(receiver: Receiver) -> None:
    notifier = notifier_to(receiver, group_seconds=30.0)
    for number in range(3):
        notifier.send(result_event(Result(f"clip-{number}.mp4", ItemState.FAILED, message="why")))
    notifier.close()
    assert receiver.titles == [f"pqdrop: clip-{number}.mp4 failed" for number in range(3)]


def test_only_the_kinds_asked_for_go_out_and_the_default_is_what_needs_a_person(receiver: Receiver) -> None:
    assert NotifyConfig().on == ("failed", "unconfirmed", "paused", "resumed", "stuck")
    notifier = notifier_to(receiver, on=NotifyConfig().on)
    notifier.send(result_event(published()))
    notifier.send(result_event(Result("draft.mp4", ItemState.SENT, publish_id="p")))
    notifier.send(unconfirmed_event("slow.mp4", "p5"))
    notifier.close()
    assert receiver.titles == ["pqdrop: slow.mp4 unconfirmed"]


def test_the_api_key_never_appears_in_a_message_even_when_a_reason_quotes_it(
    receiver: Receiver, tmp_path: Path
) -> None:
    out = tmp_path / "stdin.json"
    config = NotifyConfig(urls=(receiver.url(),), command=f"cat > {out}", url=f"http://127.0.0.1:{receiver.port}/p",
                          on=("failed",))
    notifier = Notifier(config, BERLIN, secrets=("pq_live_0123456789",), group_seconds=0.0)
    notifier.send(result_event(Result("pq_live_0123456789.mp4", ItemState.FAILED,
                                      message="refused: Bearer pq_live_0123456789 is not valid")))
    notifier.close()
    assert len(receiver.received) == 2  # Apprise's json:// and the plain URL
    everything = json.dumps(receiver.received) + out.read_text()
    assert "pq_live_0123456789" not in everything
    assert "pqdrop: [hidden].mp4 failed" in receiver.titles
    assert "Bearer [hidden] is not valid" in everything


def test_the_command_does_not_see_the_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTQUED_API_KEY", "pq_secret_value")
    out = tmp_path / "env.txt"
    notifier = Notifier(NotifyConfig(command=f"env > {out}"), group_seconds=0.0)
    notifier.send(result_event(Result("clip", ItemState.FAILED, message="why")))
    notifier.close()
    text = out.read_text()
    assert "pq_secret_value" not in text
    assert "PQDROP_ITEM=clip" in text and "PQDROP_STATE=failed" in text and "PQDROP_TITLE=pqdrop: clip failed" in text


def test_a_command_and_a_url_receive_the_event_as_json(receiver: Receiver, tmp_path: Path) -> None:
    out = tmp_path / "event.json"
    config = NotifyConfig(command=f"cat > {out}", url=f"http://127.0.0.1:{receiver.port}/plain", on=("published",))
    notifier = Notifier(config, group_seconds=0.0)
    notifier.send(result_event(published()))
    notifier.close()
    [posted] = receiver.received
    from_command = json.loads(out.read_text())
    assert {key: posted[key] for key in ("item", "state", "publishId", "reason", "urls", "title")} == {
        "item": "launch.mp4", "state": "published", "publishId": "pub_1", "reason": None,
        "urls": ["https://www.tiktok.com/@mybrand/video/7301"], "title": "pqdrop: launch.mp4 published"}
    assert from_command == {key: value for key, value in posted.items() if key != "path"}


def test_an_item_that_fails_in_a_run_is_told_by_title_reason_and_retry(
    receiver: Receiver, tmp_path: Path, sandbox: Sandbox
) -> None:
    config = load_config(write_config(tmp_path, sandbox.url, notify={"urls": [receiver.url()]}))
    inbox = config.inbox.path
    inbox.mkdir()
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md", "intent: nope\n")
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal, secrets=(SANDBOX_KEY,)) as workers:
        assert once(workers)[0] == EXIT_FAILED
    journal.close()  # Workers.close() sent what was queued
    [message] = receiver.received
    assert message["title"] == "pqdrop: clip failed"
    assert "clip.md" in message["message"] and "intent" in message["message"]
    assert "`pqdrop retry clip`" in message["message"]


def test_a_published_post_is_told_with_its_url(receiver: Receiver, tmp_path: Path, sandbox: Sandbox) -> None:
    config = load_config(write_config(tmp_path, sandbox.url, notify={"urls": [receiver.url()],
                                                                     "on": ["published", "failed"]}))
    inbox = config.inbox.path
    inbox.mkdir()
    make_video(inbox / "launch.mp4", seconds=1)
    sidecar(inbox / "launch.md")
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal, secrets=(SANDBOX_KEY,)) as workers:
        assert once(workers)[0] == EXIT_OK
    status = json.loads((inbox / "sent" / "launch.status.json").read_text())
    journal.close()
    [url] = [target["url"] for target in status["targets"]]
    [message] = receiver.received
    assert message["title"] == "pqdrop: launch published"
    assert url in message["message"]
    assert SANDBOX_KEY not in json.dumps(message)


def test_a_hanging_notifier_never_holds_posting_up(tmp_path: Path, sandbox: Sandbox) -> None:
    release = threading.Event()
    hanging = Receiver(hang=release)
    config = load_config(write_config(tmp_path, sandbox.url, notify={"urls": [hanging.url()], "timeout_seconds": 30}))
    inbox = config.inbox.path
    inbox.mkdir()
    for number in range(3):
        make_video(inbox / f"bad-{number}.mp4", width=360 + 2 * number, height=640, seconds=1)
        sidecar(inbox / f"bad-{number}.md", "intent: nope\n")
    journal = Journal(config.state.dir)
    try:
        with make_client(config) as client:
            workers = Workers(config, client, journal)
            workers.notifier._group_seconds = 0.0
            code, round_ = once(workers)  # returns while the notifier is still held
            wait_until(hanging.holding.is_set)
            assert code == EXIT_FAILED and len(round_.results) == 3
            assert sorted(path.name for path in (inbox / "failed").glob("*.status.json")) == [
                f"bad-{number}.status.json" for number in range(3)]
            assert hanging.received == []
            release.set()
            workers.close()
        wait_until(lambda: len(hanging.received) == 3)
    finally:
        release.set()
        journal.close()
        hanging.close()


def test_a_reload_applies_new_notify_settings_to_the_running_workers(
    receiver: Receiver, tmp_path: Path, sandbox: Sandbox
) -> None:
    before = load_config(write_config(tmp_path, sandbox.url, notify={"urls": [receiver.url("before")]}))
    after = load_config(write_config(tmp_path, sandbox.url, notify={"urls": [receiver.url("after")]},
                                     postqued={"workers": 1}))
    before.inbox.path.mkdir()
    journal = Journal(before.state.dir)
    with make_client(before) as client, Workers(before, client, journal) as workers:
        assert workers.capacity == before.postqued.workers != 1
        assert workers.reconfigure(after) == []  # nothing of these waits for a restart
        assert workers.capacity == 1
        make_video(before.inbox.path / "clip.mp4", seconds=1)
        sidecar(before.inbox.path / "clip.md", "intent: nonsense\n")
        assert once(workers)[0] == EXIT_FAILED
    journal.close()
    assert [(message["path"], message["title"]) for message in receiver.received] == [
        ("/after", "pqdrop: clip failed")]


def test_a_bad_apprise_url_is_refused_naming_the_key(tmp_path: Path) -> None:
    from pqdrop.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text('[inbox]\npath = "i"\n[state]\ndir = "s"\n[notify]\nurls = ["ntfy.sh/my-topic"]\n')
    with pytest.raises(ConfigError, match=r"notify.urls.*'ntfy.sh/my-topic' is not an Apprise URL.*ntfys://"):
        load_config(path)


def test_one_apprise_url_written_without_brackets_is_refused_saying_how_to_write_it(tmp_path: Path) -> None:
    from pqdrop.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text('[inbox]\npath = "i"\n[state]\ndir = "s"\n[notify]\nurls = "ntfys://my-topic"\n')
    with pytest.raises(ConfigError, match=r'notify.urls: "ntfys://my-topic" is not a list; write it in brackets: '
                                          r'urls = \["ntfys://my-topic"\]'):
        load_config(path)


def test_a_scheduled_event_says_its_time_in_the_configured_zone() -> None:
    from pqdrop.schedule.notify import message_of

    event = result_event(Result("later.mp4", ItemState.SCHEDULED, publish_id="p", targets=[
        {"id": "t", "accountId": "a", "status": "scheduled", "dispatchAt": "2030-01-15T17:00:00Z"}]))
    assert event.at == (datetime(2030, 1, 15, 17, tzinfo=UTC),)
    assert message_of(event, BERLIN).body.splitlines()[0] == "later.mp4 is scheduled for 2030-01-15 18:00 CET"


def test_a_refused_key_is_one_message_per_outage_and_one_when_posting_works_again_across_runs(
    receiver: Receiver, tmp_path: Path, sandbox: Sandbox
) -> None:
    from pqdrop.service.workers import EXIT_BLOCKED

    config = load_config(write_config(tmp_path, sandbox.url, notify={"urls": [receiver.url()]}))
    inbox = config.inbox.path
    inbox.mkdir()
    make_video(inbox / "clip.mp4", seconds=1)
    sidecar(inbox / "clip.md")
    sandbox.set_key(SANDBOX_KEY, "revoked")
    for expected in (EXIT_BLOCKED, EXIT_BLOCKED, EXIT_BLOCKED, EXIT_OK):  # cron's `pqdrop once`, every few minutes
        if expected == EXIT_OK:
            sandbox.set_key(SANDBOX_KEY, "ok")
        journal = Journal(config.state.dir)
        with make_client(config) as client, Workers(config, client, journal, secrets=(SANDBOX_KEY,)) as workers:
            assert once(workers)[0] == expected
            if expected == EXIT_BLOCKED:
                assert once(workers)[0] == EXIT_BLOCKED  # in one process too: the same outage is said once
        journal.close()
    assert receiver.titles == ["pqdrop: posting paused", "pqdrop: posting resumed"]
    assert "revoked" in receiver.received[0]["message"] and "API key" in receiver.received[0]["message"]
    assert SANDBOX_KEY not in json.dumps(receiver.received)


def test_a_file_stuck_arriving_is_told_once(receiver: Receiver, tmp_path: Path, sandbox: Sandbox) -> None:
    config = load_config(write_config(tmp_path, sandbox.url, notify={"urls": [receiver.url()]},
                                      inbox={"stuck_arriving_hours": 0.0001}))  # a third of a second
    inbox = config.inbox.path
    inbox.mkdir()
    video = make_video(inbox / "big.mp4", seconds=1)
    with video.open("r+b") as stream:  # its end never arrives: a sync cut off half way
        stream.truncate(video.stat().st_size // 2)
    sidecar(inbox / "big.md")
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal) as workers:
        workers.notifier._group_seconds = 0.0
        wait_until(lambda: any(waiting.stuck for waiting in workers.look().waiting))
        workers.look()
        workers.look()
    journal.close()
    [message] = receiver.received
    assert message["title"] == "pqdrop: big stuck arriving"
    assert "sync tool" in message["message"]


def test_a_scheduled_post_and_its_cancel_are_told_with_the_time_in_the_configured_zone(
    receiver: Receiver, tmp_path: Path, sandbox: Sandbox
) -> None:
    from tests.schedule.test_editor import LATER, schedule, write_like_a_sync_tool

    config = load_config(write_config(tmp_path, sandbox.url, notify={"urls": [receiver.url()],
                                                                     "on": ["scheduled", "canceled"]}))
    inbox = config.inbox.path
    inbox.mkdir()
    journal = Journal(config.state.dir)
    with make_client(config) as client, Workers(config, client, journal) as workers:
        workers.notifier._group_seconds = 0.0
        path = schedule(workers, inbox)
        assert LATER in path.read_text()
        write_like_a_sync_tool(path, path.read_text().replace("---\n", "---\ncancel: true\n", 1))
        workers.follow()
        assert (inbox / "canceled" / "later.status.json").exists()
    journal.close()
    assert receiver.titles == ["pqdrop: later scheduled", "pqdrop: later canceled"]
    assert receiver.received[0]["message"].startswith("later is scheduled for 2030-06-01 18:00 CEST\n")
    assert "canceled/" in receiver.received[1]["message"]


def test_a_worker_stuck_in_a_request_past_its_deadline_is_told_once(
    receiver: Receiver, tmp_path: Path, sandbox: Sandbox
) -> None:
    from pqdrop.postqued.deadlines import OVERDUE_GRACE_SECONDS

    config = load_config(write_config(tmp_path, sandbox.url, notify={"urls": [receiver.url()]}))
    config.inbox.path.mkdir()
    journal = Journal(config.state.dir)
    stuck, release = threading.Event(), threading.Event()
    with make_client(config) as client, Workers(config, client, journal) as workers:
        workers.notifier._group_seconds = 0.0

        def hang() -> None:
            # Stuck where no request guard reaches (a resolver, a disk): its deadline passed long ago.
            with client.deadlines.request("GET /v1/platform-accounts", -OVERDUE_GRACE_SECONDS - 1):
                stuck.set()
                release.wait(30)

        try:
            workers._submit("clip", hang)  # type: ignore[arg-type]
            assert stuck.wait(10)
            assert workers.stuck() == "stuck: clip in GET /v1/platform-accounts past its deadline"
            assert workers.stuck() is not None  # still stuck: not told again
        finally:
            release.set()
    journal.close()
    [message] = receiver.received
    assert message["title"] == "pqdrop: clip stuck"
    assert message["message"].startswith("clip is stuck in GET /v1/platform-accounts past its deadline\n")
    assert "watchdog restarts pqdrop" in message["message"]
