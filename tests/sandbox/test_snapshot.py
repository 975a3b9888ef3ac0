"""The sandbox's state on disk: a restarted sandbox with a state folder knows its posts, schedules and keys' replies."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.sandbox.test_sandbox import (
    API_KEY,
    SECOND_KEY,
    START,
    STEP,
    FakeClock,
    account_id,
    client_for,
    loopback_client,
    publish,
    publish_body,
    upload_video,
)

from pqdrop.sandbox import Sandbox
from pqdrop.sandbox.instants import format_instant
from pqdrop.sandbox.snapshot import STATE_FILE, SnapshotError

DAY = 24 * 3600.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_sandbox(clock: FakeClock) -> Iterator[Callable[..., Sandbox]]:
    """Sandboxes on the fake clock, as tests/sandbox/test_sandbox.py makes them; all stopped at teardown."""
    started: list[Sandbox] = []

    def make(**options: Any) -> Sandbox:
        options = {"clock": clock, "processing_seconds": STEP, "api_keys": (API_KEY, SECOND_KEY), **options}
        started.append(Sandbox(**options).start())
        return started[-1]

    yield make
    for sandbox in started:
        sandbox.stop()


def scheduled_publish(sandbox: Sandbox) -> tuple[str, dict[str, object]]:
    """A publish to @mybrand for tomorrow; its id and the body it was made with."""
    with client_for(sandbox) as api, loopback_client() as bare:
        video = upload_video(api, bare)
        body = publish_body([video], account_id(api, "@mybrand"), dispatchAt=format_instant(START + DAY))
        reply = publish(api, body, key="key-tomorrow")
    assert reply.status_code == 201, reply.text
    return str(reply.json()["publishId"]), body


def test_a_restarted_sandbox_with_a_state_folder_keeps_a_scheduled_post_and_its_idempotency_key(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, clock: FakeClock,
) -> None:
    first = make_sandbox(state_dir=tmp_path)
    publish_id, body = scheduled_publish(first)
    first.stop()

    clock.now = START + 3600  # an hour later: still before tomorrow's dispatchAt
    second = make_sandbox(state_dir=tmp_path)
    with client_for(second) as api:
        status = api.get(f"/v1/content/publish/{publish_id}")
        replay = publish(api, body, key="key-tomorrow")
        conflict = publish(api, {**body, "targets": [{**body["targets"][0], "caption": "Other"}]},  # type: ignore[index]
                           key="key-tomorrow")
    assert status.status_code == 200, status.text
    assert [target["status"] for target in status.json()["targets"]] == ["scheduled"]
    assert (replay.status_code, replay.json()["publishId"]) == (201, publish_id)
    assert conflict.status_code == 409
    assert len(second.state_summary()["publishes"]) == 1


def test_a_kept_post_goes_out_at_its_time_after_the_restart(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, clock: FakeClock,
) -> None:
    first = make_sandbox(state_dir=tmp_path)
    publish_id, _ = scheduled_publish(first)
    first.stop()
    clock.now = START + DAY + 60  # past the dispatchAt and the processing steps
    second = make_sandbox(state_dir=tmp_path)
    with client_for(second) as api:
        status = api.get(f"/v1/content/publish/{publish_id}").json()
    assert [target["status"] for target in status["targets"]] == ["published"]


def test_without_a_state_folder_a_restart_forgets_every_post(make_sandbox: Callable[..., Sandbox]) -> None:
    first = make_sandbox()
    publish_id, _ = scheduled_publish(first)
    first.stop()
    with client_for(make_sandbox()) as api:
        assert api.get(f"/v1/content/publish/{publish_id}").status_code == 404


def test_the_state_file_holds_no_api_key(make_sandbox: Callable[..., Sandbox], tmp_path: Path) -> None:
    scheduled_publish(make_sandbox(state_dir=tmp_path))
    text = (tmp_path / STATE_FILE).read_text()
    assert API_KEY not in text
    assert len(json.loads(text)["publishes"]) == 1
    assert [path.name for path in tmp_path.iterdir()] == [STATE_FILE]  # no temporary left behind


def test_a_state_file_that_cannot_be_read_back_stops_the_sandbox_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    with pytest.raises(SnapshotError) as caught:
        Sandbox(state_dir=tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / STATE_FILE}: not JSON")
    assert str(caught.value).endswith("; move it away to start the sandbox afresh")
    (tmp_path / STATE_FILE).write_text('{"version": 99}')
    with pytest.raises(SnapshotError, match="version 99, expected 1; move it away"):
        Sandbox(state_dir=tmp_path)


@pytest.mark.parametrize("state", [True, False], ids=["state", "memory"])
def test_the_sandbox_commands_first_line_says_where_its_state_lives(tmp_path: Path, state: bool) -> None:
    env = {name: value for name, value in os.environ.items() if name != "POSTQUED_API_KEY"}
    extra = ["--state", str(tmp_path / "kept")] if state else []
    with subprocess.Popen([sys.executable, "-m", "pqdrop", "sandbox", "--port", "0", *extra], env=env, cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            with selectors.DefaultSelector() as selector:
                selector.register(process.stdout, selectors.EVENT_READ)
                assert selector.select(timeout=30), "pqdrop sandbox printed nothing"
            line = process.stdout.readline()
            if state:
                url = next(word for word in line.split() if word.startswith("http://127.0.0.1:"))
                reply = httpx.post(f"{url}/v1/content/upload", headers={"Authorization": "Bearer pq_sandbox"},
                                   json={"filename": "a.mp4", "contentType": "video/mp4", "fileSize": 10})
                assert reply.status_code == 201
            process.terminate()
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if state:
        assert f"; state kept in {tmp_path / 'kept' / STATE_FILE}); Ctrl-C or SIGTERM stops it" in line
        assert len(json.loads((tmp_path / "kept" / STATE_FILE).read_text())["contents"]) == 1
    else:
        assert "; state in memory only, forgotten when it stops); Ctrl-C or SIGTERM stops it" in line
