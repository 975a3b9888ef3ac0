"""Filing items: moves that never overwrite, the status file, status.log."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest

from daemon.outbox import append_status_log, file_item, free_stem, move, write_json_atomically


def test_file_item_moves_files_and_writes_the_status_file_beside_them(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"video")
    (tmp_path / "clip.md").write_text("caption")
    status = file_item(tmp_path, [PurePosixPath("clip.mp4"), PurePosixPath("clip.md")], "clip", "sent",
                       {"state": "published", "publishId": "p1"})
    assert status == tmp_path / "sent" / "clip.status.json"
    assert (tmp_path / "sent" / "clip.mp4").read_bytes() == b"video"
    assert (tmp_path / "sent" / "clip.md").read_text() == "caption"
    assert not (tmp_path / "clip.mp4").exists()
    document = json.loads(status.read_text())
    assert document == {"state": "published", "publishId": "p1", "files": ["clip.mp4", "clip.md"]}


def test_a_name_clash_gets_a_suffix_for_every_file_of_the_item(tmp_path: Path) -> None:
    (tmp_path / "sent").mkdir()
    (tmp_path / "sent" / "clip.mp4").write_bytes(b"first")
    (tmp_path / "clip.mp4").write_bytes(b"second")
    (tmp_path / "clip.md").write_text("caption")
    status = file_item(tmp_path, [PurePosixPath("clip.mp4"), PurePosixPath("clip.md")], "clip", "sent", {})
    assert status.name == "clip (2).status.json"
    assert (tmp_path / "sent" / "clip.mp4").read_bytes() == b"first"
    assert (tmp_path / "sent" / "clip (2).mp4").read_bytes() == b"second"
    assert (tmp_path / "sent" / "clip (2).md").read_text() == "caption"


def test_a_bundle_folder_moves_whole(tmp_path: Path) -> None:
    (tmp_path / "trip").mkdir()
    (tmp_path / "trip" / "a.jpg").write_bytes(b"a")
    file_item(tmp_path, [PurePosixPath("trip")], "trip", "failed", {"state": "failed"})
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
