"""Which files form an item, and when it is ready: the pure planner and the real scan."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from pqdrop.inbox import Entry, Rules, is_clutter, is_conflict, plan_items, scan_entries

NOW = 1_000_000.0
OLD = NOW - 60
RULES = Rules(settle_seconds=5, sidecar_wait_seconds=30, require_sidecar=True)


def entry(rel: str, mtime: float = OLD, *, is_dir: bool = False, is_symlink: bool = False) -> Entry:
    return Entry(PurePosixPath(rel), 10, mtime, is_dir=is_dir, is_symlink=is_symlink)


def test_media_and_sidecar_with_one_name_form_one_ready_item() -> None:
    plan = plan_items([entry("clip.mp4"), entry("clip.md")], NOW, RULES)
    assert [(i.name, i.media, i.sidecar) for i in plan.ready] == [
        ("clip", (PurePosixPath("clip.mp4"),), PurePosixPath("clip.md"))
    ]
    assert plan.waiting == ()


def test_suffix_case_does_not_matter_for_pairing() -> None:
    plan = plan_items([entry("Clip.MOV"), entry("Clip.md")], NOW, RULES)
    assert plan.ready[0].media == (PurePosixPath("Clip.MOV"),)


def test_a_file_changed_within_settle_seconds_is_still_arriving() -> None:
    plan = plan_items([entry("clip.mp4", NOW - 1), entry("clip.md")], NOW, RULES)
    assert plan.ready == ()
    assert plan.waiting[0].kind == "arriving"
    assert "clip.mp4" in plan.waiting[0].reason


def test_media_without_sidecar_waits_when_a_sidecar_is_required() -> None:
    plan = plan_items([entry("clip.mp4")], NOW, RULES)
    assert plan.ready == ()
    assert (plan.waiting[0].kind, plan.waiting[0].reason) == ("sidecar", "waiting for its sidecar clip.md")


def test_media_without_sidecar_is_posted_with_defaults_after_the_wait_when_allowed() -> None:
    rules = Rules(settle_seconds=5, sidecar_wait_seconds=30, require_sidecar=False)
    first_seen = {PurePosixPath("clip.mp4"): NOW - 10}
    assert plan_items([entry("clip.mp4")], NOW, rules, first_seen).ready == ()
    first_seen = {PurePosixPath("clip.mp4"): NOW - 31}
    ready = plan_items([entry("clip.mp4")], NOW, rules, first_seen).ready
    assert [(i.name, i.sidecar) for i in ready] == [("clip", None)]


def test_a_sidecar_without_media_waits_for_it() -> None:
    plan = plan_items([entry("clip.md")], NOW, RULES)
    assert [(w.name, w.kind) for w in plan.waiting] == [("clip", "media")]


def test_a_folder_with_photos_and_one_sidecar_is_a_bundle_in_name_order() -> None:
    entries = [entry("trip", is_dir=True), entry("trip/b.jpg"), entry("trip/a.jpg"), entry("trip/post.md")]
    item = plan_items(entries, NOW, RULES).ready[0]
    assert item.name == "trip"
    assert item.folder == PurePosixPath("trip")
    assert item.media == (PurePosixPath("trip/a.jpg"), PurePosixPath("trip/b.jpg"))
    assert item.paths == (PurePosixPath("trip"),)


def test_a_folder_with_two_sidecars_is_a_problem_item() -> None:
    entries = [entry("trip", is_dir=True), entry("trip/a.jpg"), entry("trip/x.md"), entry("trip/y.md")]
    item = plan_items(entries, NOW, RULES).ready[0]
    assert item.problem is not None and "2 sidecars" in item.problem


def test_two_media_sharing_one_name_is_a_problem_item() -> None:
    item = plan_items([entry("clip.mp4"), entry("clip.jpg"), entry("clip.md")], NOW, RULES).ready[0]
    assert item.problem is not None and "2 media files share the name 'clip'" in item.problem


def test_a_symlinked_media_is_a_problem_item() -> None:
    item = plan_items([entry("clip.mp4", is_symlink=True), entry("clip.md")], NOW, RULES).ready[0]
    assert item.problem is not None and "symbolic link" in item.problem


def test_conflicted_copies_are_reported_not_posted() -> None:
    names = ["clip (Jo's conflicted copy 2026-11-02).mp4", "clip.sync-conflict-20261102-101010-ABCDEF.md"]
    plan = plan_items([entry(name) for name in names], NOW, RULES)
    assert plan.ready == ()
    assert plan.conflicts == tuple(sorted(PurePosixPath(name) for name in names))


def test_sync_tool_and_os_clutter_is_never_an_item() -> None:
    for name in [".syncthing.clip.mp4.tmp", "~syncthing~clip.mp4.tmp", "clip.mp4.part", "clip.crdownload",
                 "._clip.mp4", ".DS_Store", "Thumbs.db", "desktop.ini", "@eaDir", "x.tmp", ".dropbox.cache"]:
        assert is_clutter(name), name
    assert not is_clutter("clip.mp4")
    assert is_clutter("clip.lock", ["*.lock"])


def test_conflict_patterns_match_dropbox_and_syncthing_names() -> None:
    assert is_conflict("clip (Jo's conflicted copy 2026-11-02).mp4")
    assert is_conflict("clip.sync-conflict-20261102-101010-ABCDEF.mp4")
    assert not is_conflict("clip.mp4")


def test_scan_skips_clutter_and_reserved_folders_and_does_not_follow_links(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"x")
    (tmp_path / ".syncthing.clip.mp4.tmp").write_bytes(b"x")
    (tmp_path / "sent").mkdir()
    (tmp_path / "sent" / "old.mp4").write_bytes(b"x")
    (tmp_path / "status.log").write_text("")
    (tmp_path / "trip").mkdir()
    (tmp_path / "trip" / "a.jpg").write_bytes(b"x")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.mp4").write_bytes(b"secret")
    os.symlink(outside / "secret.mp4", tmp_path / "link.mp4")
    found = {str(e.rel): e for e in scan_entries(tmp_path)}
    assert set(found) == {"clip.mp4", "trip", "trip/a.jpg", "link.mp4"}
    assert found["link.mp4"].is_symlink
    assert found["trip"].is_dir
