"""Filing items: moves that never overwrite, the status file, status.log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pqdrop.filing import append_status_log, file_claim, free_stem, move, write_json_atomically


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
