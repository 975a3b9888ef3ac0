"""Filing items: moves that never overwrite, the status file, status.log."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from pqdrop.errors import InboxBlocked
from pqdrop.folders.filing import (
    STATUS_LOG_MAX_BYTES,
    append_status_log,
    ensure_folder,
    file_claim,
    free_stem,
    move,
    write_json_atomically,
    write_text_atomically,
)


def claim_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    source = tmp_path / "processing" / "clip~owner~token"
    source.mkdir(parents=True)
    for name, content in files.items():
        (source / name).write_bytes(content)
    return source


def test_file_claim_moves_files_and_writes_the_status_file_beside_them(tmp_path: Path) -> None:
    source = claim_with(tmp_path, {"clip.mp4": b"video", "clip.md": b"caption"})
    status = file_claim(source, tmp_path / "sent", "clip", "clip", ["clip.mp4", "clip.md"],
                        {"state": "published", "publishId": "p1"})
    assert status == tmp_path / "sent" / "clip.status.json"
    assert (tmp_path / "sent" / "clip.mp4").read_bytes() == b"video"
    assert (tmp_path / "sent" / "clip.md").read_bytes() == b"caption"
    assert not source.exists()
    document = json.loads(status.read_text())
    assert document == {"state": "published", "publishId": "p1", "files": ["clip.mp4", "clip.md"]}


def test_a_name_clash_gets_a_suffix_for_every_file_of_the_item(tmp_path: Path) -> None:
    (tmp_path / "sent").mkdir()
    (tmp_path / "sent" / "clip.mp4").write_bytes(b"first")
    source = claim_with(tmp_path, {"clip.mp4": b"second", "clip.md": b"caption"})
    stem = free_stem(tmp_path / "sent", "clip", ["clip.mp4", "clip.md"])
    status = file_claim(source, tmp_path / "sent", "clip", stem, ["clip.mp4", "clip.md"], {})
    assert status.name == "clip (2).status.json"
    assert (tmp_path / "sent" / "clip.mp4").read_bytes() == b"first"
    assert (tmp_path / "sent" / "clip (2).mp4").read_bytes() == b"second"
    assert (tmp_path / "sent" / "clip (2).md").read_bytes() == b"caption"


def test_filing_again_after_a_crash_mid_move_finishes_without_overwriting(tmp_path: Path) -> None:
    source = claim_with(tmp_path, {"clip.mp4": b"video", "clip.md": b"caption"})
    (tmp_path / "sent").mkdir()
    move(source / "clip.mp4", tmp_path / "sent" / "clip.mp4")  # the crash came after the first move
    file_claim(source, tmp_path / "sent", "clip", "clip", ["clip.mp4", "clip.md"], {"state": "sent"})
    assert sorted(p.name for p in (tmp_path / "sent").iterdir()) == ["clip.md", "clip.mp4", "clip.status.json"]


def test_a_bundle_folder_moves_whole(tmp_path: Path) -> None:
    source = tmp_path / "processing" / "trip~o~t"
    (source / "trip").mkdir(parents=True)
    (source / "trip" / "a.jpg").write_bytes(b"a")
    file_claim(source, tmp_path / "failed", "trip", "trip", ["trip"], {"state": "failed"})
    assert (tmp_path / "failed" / "trip" / "a.jpg").read_bytes() == b"a"
    assert (tmp_path / "failed" / "trip.status.json").exists()


def test_free_stem_skips_names_taken_by_status_files(tmp_path: Path) -> None:
    (tmp_path / "clip.status.json").write_text("{}")
    assert free_stem(tmp_path, "clip", ["clip.mp4"]) == "clip (2)"


def test_move_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(FileExistsError):
        move(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "a").read_text() == "a" and (tmp_path / "b").read_text() == "b"


def test_write_json_atomically_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_json_atomically(tmp_path / "x.json", {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}


def test_status_log_appends_one_json_line_per_call(tmp_path: Path) -> None:
    append_status_log(tmp_path, {"item": "clip", "state": "uploading"})
    append_status_log(tmp_path, {"item": "clip", "state": "published"})
    lines = [json.loads(line) for line in (tmp_path / "status.log").read_text().splitlines()]
    assert [(line["item"], line["state"]) for line in lines] == [("clip", "uploading"), ("clip", "published")]
    assert all("time" in line for line in lines)


def test_a_symlink_under_a_status_files_name_is_refused_and_neither_it_nor_its_target_changes(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.txt").write_text("theirs")
    (tmp_path / "clip.status.json").symlink_to("elsewhere.txt")
    with pytest.raises(InboxBlocked, match=r"clip.status.json in .* is a symbolic link, not a file pqdrop wrote"):
        write_json_atomically(tmp_path / "clip.status.json", {"state": "sent"})
    assert os.readlink(tmp_path / "clip.status.json") == "elsewhere.txt"
    assert (tmp_path / "elsewhere.txt").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.status.json", "elsewhere.txt"]


def test_a_folder_under_the_schedules_name_is_refused_and_left_empty(tmp_path: Path) -> None:
    (tmp_path / "SCHEDULE.md").mkdir()
    with pytest.raises(InboxBlocked, match="is a folder"):
        write_text_atomically(tmp_path / "SCHEDULE.md", "# Schedule\n")
    assert list((tmp_path / "SCHEDULE.md").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["SCHEDULE.md"]


def test_a_filing_folder_that_is_a_file_or_a_link_is_refused_a_link_the_config_names_taken(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "sent").symlink_to("real")  # sent/ on another disk: the user's choice, said in the config
    (tmp_path / "canceled").symlink_to("notes.txt")
    (tmp_path / "failed").write_text("mine")
    ensure_folder(tmp_path / "sent", {"sent": tmp_path / "real"})
    with pytest.raises(InboxBlocked, match=r"^sent in .* is a symbolic link \(to real\); pqdrop does not move your "
                       r"files out of the inbox through a link it was not told of: make sent/ a folder again, or, if "
                       r"the link is yours, name its place in the config: \[inbox.filing_links\] sent = \".*/real\"$"):
        ensure_folder(tmp_path / "sent")
    with pytest.raises(InboxBlocked, match=r"^canceled in .* is a symbolic link, not a folder; move it away"):
        ensure_folder(tmp_path / "canceled", {"canceled": tmp_path / "notes.txt"})  # named, yet a file
    with pytest.raises(InboxBlocked, match=r"^failed in .* is a file, not a folder; move it away"):
        ensure_folder(tmp_path / "failed")
    ensure_folder(tmp_path / "scheduled")
    assert (tmp_path / "scheduled").is_dir() and (tmp_path / "failed").read_text() == "mine"
    assert os.readlink(tmp_path / "sent") == "real" and (tmp_path / "notes.txt").read_text() == "mine"


def test_a_named_pipe_as_status_log_is_never_opened_and_the_append_returns_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "status.log")
    began = time.monotonic()
    assert append_status_log(tmp_path, {"item": "clip", "state": "sent"}) is False
    assert time.monotonic() - began < 2  # a write-open of a pipe without a reader would block for good
    assert (tmp_path / "status.log").is_fifo()


def test_status_log_trouble_is_said_once_and_its_end_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "pqdrop")
    (tmp_path / "status.log").symlink_to("/dev/null")
    for number in range(3):
        assert append_status_log(tmp_path, {"item": f"clip{number}", "state": "sent"}) is False
    (tmp_path / "status.log").unlink()
    assert append_status_log(tmp_path, {"item": "clip", "state": "sent"}) is True
    assert append_status_log(tmp_path, {"item": "clip", "state": "published"}) is True
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"{tmp_path}/status.log: it is a symbolic link, not a file; pqdrop leaves it as it is and writes no state "
        "lines there until it can; move it away, and pqdrop starts a new status.log there",
        f"{tmp_path}/status.log is written again",
    ]
    states = [json.loads(line)["state"] for line in (tmp_path / "status.log").read_text().splitlines()]
    assert states == ["sent", "published"]


def test_an_appended_line_after_a_last_line_without_newline_starts_on_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "status.log").write_bytes(b'{"item": "a", "state": "sent"}')
    append_status_log(tmp_path, {"item": "b", "state": "sent"})
    append_status_log(tmp_path, {"item": "c", "state": "sent"})
    lines = (tmp_path / "status.log").read_text().splitlines()
    assert [json.loads(line)["item"] for line in lines] == ["a", "b", "c"]


# --- status.log is rotated (issue 21: nothing grows without bound) ----------------------------------


def test_status_log_past_one_mib_moves_to_status_log_1_and_the_newest_line_starts_a_new_one(tmp_path: Path) -> None:
    old = b'{"item": "old", "state": "sent"}\n' * (STATUS_LOG_MAX_BYTES // 33)
    (tmp_path / "status.log").write_bytes(old)
    assert append_status_log(tmp_path, {"item": "new", "state": "sent"})
    [line] = (tmp_path / "status.log").read_text().splitlines()
    assert json.loads(line)["item"] == "new"
    assert (tmp_path / "status.log.1").read_bytes() == old  # the older lines, whole
    assert append_status_log(tmp_path, {"item": "newer", "state": "sent"})
    assert [json.loads(text)["item"] for text in (tmp_path / "status.log").read_text().splitlines()] == ["new", "newer"]


def test_a_sparse_6_gib_status_log_is_rotated_by_its_size_without_a_read(tmp_path: Path) -> None:
    with (tmp_path / "status.log").open("wb") as stream:
        stream.truncate(6 * 1024**3)  # a stranger's: 6 GiB as ls shows it, nothing on disk
    assert append_status_log(tmp_path, {"item": "clip", "state": "sent"})
    assert os.stat(tmp_path / "status.log.1").st_size == 6 * 1024**3  # moved, never read nor altered
    assert json.loads((tmp_path / "status.log").read_text())["item"] == "clip"


def test_a_folder_named_status_log_1_is_left_alone_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "status.log.1").mkdir()
    (tmp_path / "status.log").write_bytes(b"x" * STATUS_LOG_MAX_BYTES + b"\n")
    with caplog.at_level(logging.WARNING, logger="pqdrop"):
        assert append_status_log(tmp_path, {"item": "a", "state": "sent"})
        assert append_status_log(tmp_path, {"item": "b", "state": "sent"})
    said = [record.getMessage() for record in caplog.records if "status.log.1" in record.getMessage()]
    assert len(said) == 1 and "it is a folder, so status.log is not rotated and grows" in said[0]
    assert list((tmp_path / "status.log.1").iterdir()) == []
