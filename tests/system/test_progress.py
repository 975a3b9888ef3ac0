"""Upload progress reaches `pqdrop status`, another process, through [state].dir/uploads.json: written while an
upload is in flight, gone when none is (issue 23)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import make_client, sidecar, wait_until, write_config

from pqdrop.commands.status import gather, render_text, status_document
from pqdrop.config import load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.service.systemd import UPLOADS_FILE, Pulse, Upload, load_uploads, save_uploads
from pqdrop.service.workers import EXIT_OK, Workers, once


def test_status_shows_an_upload_in_flight_and_nothing_once_it_is_done(
    tmp_path: Path, inbox: Path, sandbox: Sandbox
) -> None:
    video = make_video(inbox / "clip.mp4", seconds=2)
    sidecar(inbox / "clip.md")
    size = video.stat().st_size
    # [upload].max_rate sends it in small pieces, each one reported: about four seconds on the wire.
    config = load_config(write_config(tmp_path, sandbox.url, upload={"max_rate": size / 4}))
    progress = config.state.dir / UPLOADS_FILE
    journal = Journal(config.state.dir)
    outcome: list[int] = []
    with make_client(config) as client:
        workers = Workers(config, client, journal, pulse=Pulse(uploads_file=progress))
        worker = threading.Thread(target=lambda: outcome.append(once(workers)[0]))
        worker.start()
        wait_until(lambda: bool(load_uploads(progress, time.time())))
        view = gather(config, datetime.now(UTC))
        [upload] = view.uploads
        assert (upload.name, upload.total) == ("clip.mp4", size) and 0 < upload.sent <= size
        [row] = [line for line in render_text(view).splitlines() if line.startswith("  clip  ")]
        assert "uploading since" in row and " MB (" in row and " %)" in row
        [in_flight] = status_document(view)["inFlight"]
        assert in_flight["upload"]["total"] == size
        worker.join(60)
        workers.close()
    journal.close()
    assert outcome == [EXIT_OK]
    assert not progress.exists()
    assert gather(config, datetime.now(UTC)).uploads == []


def test_an_uploads_file_left_by_a_crashed_daemon_is_not_taken_for_an_upload(tmp_path: Path) -> None:
    path = tmp_path / UPLOADS_FILE
    save_uploads(path, [Upload("clip", 10, 100, 5.0)], now=1000.0)
    assert json.loads(path.read_text())["uploads"] == [
        {"name": "clip", "sent": 10, "total": 100, "bytesPerSecond": 5.0}]
    assert load_uploads(path, now=1010.0) == [Upload("clip", 10, 100, 5.0)]
    assert load_uploads(path, now=1031.0) == []  # older than 30 s: its writer is gone
    save_uploads(path, [], now=1040.0)
    assert not path.exists()


def test_pulse_writes_progress_at_most_every_two_seconds_and_removes_it_at_the_end(tmp_path: Path) -> None:
    path = tmp_path / UPLOADS_FILE
    moment = [100.0]
    pulse = Pulse(uploads_file=path, clock=lambda: moment[0], send=lambda message: True)
    pulse.progress("clip", 10, 100)
    assert [u.sent for u in load_uploads(path, time.time())] == [10]
    moment[0] = 101.0
    pulse.progress("clip", 50, 100)
    assert [u.sent for u in load_uploads(path, time.time())] == [10]  # within two seconds: not rewritten
    moment[0] = 104.0
    pulse.progress("clip", 80, 100)
    [upload] = load_uploads(path, time.time())
    assert upload.sent == 80 and upload.bytes_per_second == (80 - 10) / 4.0
    pulse.progress("clip", 100, 100)
    assert not path.exists()


def test_an_idle_pulse_writes_no_uploads_file(tmp_path: Path) -> None:
    path = tmp_path / UPLOADS_FILE
    pulse = Pulse(uploads_file=path, send=lambda message: True)
    pulse.forget("clip")  # a worker that ended without uploading
    pulse.beat()
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
