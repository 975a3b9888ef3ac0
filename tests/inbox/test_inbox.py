"""Which files form an item, and when it is ready: the pure planner and the real scan."""

from __future__ import annotations

import os
import time
import unicodedata
from pathlib import Path, PurePosixPath

import pytest

from pqdrop.inbox.items import Entry, Rules, is_clutter, is_conflict, plan_items, scan_entries

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


def test_a_lone_media_waits_from_when_it_came_into_the_folder_not_from_its_kept_mtime() -> None:
    rules = Rules(settle_seconds=5, sidecar_wait_seconds=30, require_sidecar=False)
    arrived_now = Entry(PurePosixPath("clip.mp4"), 10, OLD, ctime=NOW - 10)  # an old mtime a sync tool kept
    assert plan_items([arrived_now], NOW, rules).ready == ()
    arrived_long_ago = Entry(PurePosixPath("clip.mp4"), 10, OLD, ctime=NOW - 31)
    # A first look just now (a new `once`) does not start the wait over.
    ready = plan_items([arrived_long_ago], NOW, rules, {PurePosixPath("clip.mp4"): NOW}).ready
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
    # A sync tool's temporary is seen (it says something is still arriving), flagged, never an item.
    assert {rel for rel, e in found.items() if not e.temporary} == {"clip.mp4", "trip", "trip/a.jpg", "link.mp4"}
    assert [rel for rel, e in found.items() if e.temporary] == [".syncthing.clip.mp4.tmp"]
    assert found["link.mp4"].is_symlink
    assert found["trip"].is_dir


# --- issue 12: any name, any half-written state, any sync conflict -------------------------------

def sized(rel: str, size: int, mtime: float = OLD, **flags: bool) -> Entry:
    return Entry(PurePosixPath(rel), size, mtime, **flags)


def temp(rel: str, mtime: float = OLD) -> Entry:
    return Entry(PurePosixPath(rel), 10, mtime, temporary=True)


def test_names_that_differ_only_in_unicode_normalization_pair() -> None:
    composed, decomposed = unicodedata.normalize("NFC", "Café"), unicodedata.normalize("NFD", "Café")
    plan = plan_items([entry(f"{composed}.mp4"), entry(f"{decomposed}.md")], NOW, RULES)
    assert [(i.name, i.media, i.sidecar) for i in plan.ready] == [
        (composed, (PurePosixPath(f"{composed}.mp4"),), PurePosixPath(f"{decomposed}.md"))]
    assert plan.waiting == ()


def test_upper_case_extensions_pair_and_heic_is_media() -> None:
    plan = plan_items([entry("IMG_0001.HEIC"), entry("IMG_0001.md")], NOW, RULES)
    assert plan.ready[0].media == (PurePosixPath("IMG_0001.HEIC"),)


def test_a_carousel_goes_in_the_order_a_person_reads_its_names() -> None:
    photos = [f"trip/{number}.jpg" for number in range(12, 0, -1)]
    item = plan_items([entry("trip", is_dir=True), *map(entry, photos), entry("trip/trip.md")], NOW, RULES).ready[0]
    assert [path.name for path in item.media] == [f"{number}.jpg" for number in range(1, 13)]


@pytest.mark.parametrize("empty", ["clip.mp4", "clip.md"])
def test_an_empty_media_or_sidecar_is_still_arriving(empty: str) -> None:
    entries = [sized(name, 0 if name == empty else 10) for name in ("clip.mp4", "clip.md")]
    plan = plan_items(entries, NOW, RULES)
    assert plan.ready == ()
    assert [(w.name, w.kind, w.reason) for w in plan.waiting] == [
        ("clip", "arriving", f"still arriving: {empty} is empty (0 bytes)")]


@pytest.mark.parametrize("temporary", [".syncthing.clip.mp4.tmp", "~syncthing~clip.md.tmp", ".clip.mp4.~1a2b3c",
                                       "clip.mp4.part", "clip.mp4.crdownload", "clip.md.partial", ".clip.mp4.Ab12Cd"])
def test_a_temporary_beside_a_loose_item_holds_it(temporary: str) -> None:
    plan = plan_items([entry("clip.mp4"), entry("clip.md"), temp(temporary)], NOW, RULES)
    assert plan.ready == ()
    [waiting] = plan.waiting
    assert (waiting.name, waiting.kind) == ("clip", "arriving") and temporary in waiting.reason


def test_a_temporary_of_another_name_does_not_hold_a_loose_item() -> None:
    plan = plan_items([entry("clip.mp4"), entry("clip.md"), temp(".syncthing.other.mp4.tmp", NOW)], NOW, RULES)
    assert [item.name for item in plan.ready] == ["clip"]


def test_a_temporary_inside_a_folder_holds_the_folder_and_is_never_part_of_it() -> None:
    entries = [entry("trip", is_dir=True), entry("trip/01.jpg"), entry("trip/03.jpg"), entry("trip/trip.md"),
               temp("trip/.syncthing.02.jpg.tmp")]
    plan = plan_items(entries, NOW, RULES)
    assert plan.ready == ()
    assert [(w.name, w.kind, w.reason) for w in plan.waiting] == [
        ("trip", "arriving",
         "still arriving: trip/.syncthing.02.jpg.tmp is a Syncthing temporary, still being written")]


def test_a_carousel_waits_while_a_sync_tool_writes_anywhere_in_the_inbox_a_loose_item_does_not() -> None:
    entries = [entry("trip", is_dir=True), entry("trip/01.jpg"), entry("trip/trip.md"), entry("clip.mp4"),
               entry("clip.md"), temp(".syncthing.other.mp4.tmp", NOW - 30)]
    plan = plan_items(entries, NOW, RULES)
    assert [item.name for item in plan.ready] == ["clip"]
    assert [(w.name, w.kind) for w in plan.waiting if w.name == "trip"] == [("trip", "arriving")]
    # A temporary left alone for longer than the quiet time (an abandoned transfer) holds nothing.
    entries[-1] = temp(".syncthing.other.mp4.tmp", NOW - RULES.sync_quiet_seconds - 1)
    assert sorted(item.name for item in plan_items(entries, NOW, RULES).ready) == ["clip", "trip"]


def test_a_truncated_video_is_still_arriving() -> None:
    cut = {PurePosixPath("clip.mp4"): "its container holds 2,000 bytes but the file has 1,000"}
    plan = plan_items([entry("clip.mp4"), entry("clip.md")], NOW, RULES, truncated=cut)
    assert plan.ready == ()
    assert plan.waiting[0].reason == "still arriving: clip.mp4: its container holds 2,000 bytes but the file has 1,000"


def test_an_item_arriving_longer_than_the_stuck_time_is_reported_stuck_and_still_untouched() -> None:
    rules = Rules(settle_seconds=5, stuck_seconds=24 * 3600)
    entries = [entry("trip", is_dir=True), entry("trip/01.jpg"), entry("trip/trip.md"),
               temp("trip/.syncthing.02.jpg.tmp")]
    first_seen = {e.rel: NOW - 25 * 3600 for e in entries}
    [waiting] = plan_items(entries, NOW, rules, first_seen).waiting
    assert waiting.stuck and waiting.kind == "arriving"
    assert waiting.reason == ("stuck arriving for 25 h: trip/.syncthing.02.jpg.tmp is a Syncthing temporary, "
                              "still being written")
    first_seen = {e.rel: NOW - 3600 for e in entries}
    assert not plan_items(entries, NOW, rules, first_seen).waiting[0].stuck


@pytest.mark.parametrize("copy", ["clip (Jo's conflicted copy 2026-11-02).md",
                                  "clip.sync-conflict-20261102-101010-AB.md",
                                  "clip (conflicted copy 2026-11-02 101010).md", "clip-LAPTOP-7Q2.md"])
def test_a_conflicted_copy_holds_its_item_and_names_the_file_to_resolve(copy: str) -> None:
    plan = plan_items([entry("clip.mp4"), entry("clip.md"), entry(copy)], NOW, RULES)
    assert plan.ready == ()
    [waiting] = plan.waiting
    assert (waiting.name, waiting.kind) == ("clip", "conflict")
    assert waiting.reason.startswith(f"{copy} is a ")
    assert "conflicted copy of clip.md: keep one version" in waiting.reason
    assert plan.conflicts == (PurePosixPath(copy),)


def test_a_conflicted_copy_inside_a_folder_holds_the_folder() -> None:
    entries = [entry("trip", is_dir=True), entry("trip/01.jpg"), entry("trip/01 (Jo's conflicted copy 2026-11-02).jpg"),
               entry("trip/trip.md")]
    plan = plan_items(entries, NOW, RULES)
    assert plan.ready == () and [(w.name, w.kind) for w in plan.waiting] == [("trip", "conflict")]


@pytest.mark.parametrize("photo", ["shot.TIFF", "shot.gif", "shot.avif", "shot.dng"])
def test_a_photo_format_pqdrop_cannot_convert_is_refused_at_once_by_name(photo: str) -> None:
    [item] = plan_items([entry(photo)], NOW, RULES).ready  # no sidecar yet: refused anyway, not left waiting
    assert item.problem is not None and item.problem.startswith(f"{photo}: pqdrop cannot post ")


def test_a_pipe_named_like_a_video_is_a_problem_item_never_opened() -> None:
    [item] = plan_items([sized("clip.mp4", 0, is_file=False), entry("clip.md")], NOW, RULES).ready
    assert item.problem == "clip.mp4 is not a regular file (a pipe, socket or device); remove it"


def test_still_arriving_comes_before_a_problem_so_a_half_synced_folder_is_never_failed() -> None:
    entries = [entry("trip", is_dir=True), entry("trip/a.jpg"), entry("trip/x.md"), entry("trip/y.md"),
               temp("trip/.syncthing.b.jpg.tmp")]
    plan = plan_items(entries, NOW, RULES)
    assert plan.ready == () and plan.waiting[0].kind == "arriving"


def test_a_latin1_name_forms_an_item_and_reasons_show_its_bytes(tmp_path: Path) -> None:
    inbox = os.fsencode(tmp_path)
    Path(os.fsdecode(inbox + b"/caf\xe9.mp4")).write_bytes(b"x")
    [item] = plan_items(scan_entries(tmp_path), time.time() + 60, RULES).waiting
    assert os.fsencode(item.name) == b"caf\xe9"
    assert item.reason == "waiting for its sidecar caf\\xe9.md"


def test_names_with_editing_suffixes_are_items_of_their_own_and_no_copy_holds_them() -> None:
    entries = [entry(name) for stem in ("teaser", "teaser-FINAL", "clip-4K", "clip", "vlog-DAY2", "vlog")
               for name in (f"{stem}.mp4", f"{stem}.md")]
    entries += [entry("beach", is_dir=True), entry("beach/sunset.jpg"), entry("beach/sunset-HDR.jpg"),
                entry("beach/beach.md")]
    plan = plan_items(entries, NOW, RULES)
    assert (plan.waiting, plan.conflicts) == ((), ())
    assert sorted(item.name for item in plan.ready) == ["beach", "clip", "clip-4K", "teaser", "teaser-FINAL", "vlog",
                                                         "vlog-DAY2"]
    [beach] = [item for item in plan.ready if item.name == "beach"]
    assert sorted(beach.media) == [PurePosixPath("beach/sunset-HDR.jpg"), PurePosixPath("beach/sunset.jpg")]


def test_a_onedrive_copy_under_a_default_windows_name_holds_its_item_even_as_a_whole_pair() -> None:
    entries = [entry("clip.mp4"), entry("clip.md"), entry("clip-DESKTOP-1A2B3C4.mp4"), entry("clip-DESKTOP-1A2B3C4.md")]
    plan = plan_items(entries, NOW, RULES)
    assert plan.ready == () and [(w.name, w.kind) for w in plan.waiting] == [("clip", "conflict")]
    assert plan.conflicts == (PurePosixPath("clip-DESKTOP-1A2B3C4.md"), PurePosixPath("clip-DESKTOP-1A2B3C4.mp4"))


def test_a_copy_in_a_folder_whose_original_is_not_there_holds_the_folder_and_says_to_rename_it() -> None:
    entries = [entry("trip", is_dir=True), entry("trip/02.jpg"), entry("trip/01 (Jo's conflicted copy 2026-11-02).jpg"),
               entry("trip/trip.md")]
    [waiting] = plan_items(entries, NOW, RULES).waiting
    assert (waiting.name, waiting.kind) == ("trip", "conflict")
    assert waiting.reason == ("trip/01 (Jo's conflicted copy 2026-11-02).jpg is a Dropbox/Nextcloud conflicted copy of "
                              "01.jpg, which is not there: rename it to 01.jpg, then the item is posted")


def test_a_sidecar_that_differs_only_in_letter_case_is_named_with_the_rename_that_pairs_it() -> None:
    plan = plan_items([entry("Beach.MP4"), entry("beach.md")], NOW, RULES)
    assert plan.ready == ()
    assert sorted((w.name, w.kind, w.reason) for w in plan.waiting) == [
        ("Beach", "sidecar", "waiting for its sidecar Beach.md; beach.md differs from Beach.MP4 only in letter "
                             "case: rename beach.md to Beach.md to pair them"),
        ("beach", "media", "beach.md has no media beside it yet; Beach.MP4 differs from it only in letter case: "
                           "rename beach.md to Beach.md to pair them"),
    ]


@pytest.mark.parametrize(("lookalike", "how"), [
    ("clip.md.txt", "looks like the sidecar with .txt added"),
    ("clip.txt", "looks like the sidecar ending in .txt, not .md"),
    ("clip.markdown", "looks like the sidecar ending in .markdown, not .md"),
    ("Clip.MD.txt", "looks like the sidecar with .txt added"),
])
def test_a_sidecar_with_a_phone_suffix_is_named_with_its_rename(lookalike: str, how: str) -> None:
    plan = plan_items([entry("clip.mp4"), entry(lookalike)], NOW, RULES)
    assert plan.ready == ()
    assert [(w.kind, w.reason) for w in plan.waiting] == [
        ("sidecar", f"waiting for its sidecar clip.md; {lookalike} {how}; rename it to clip.md")
    ]


def test_a_lookalike_sidecar_holds_the_video_even_when_defaults_are_allowed() -> None:
    rules = Rules(settle_seconds=5, sidecar_wait_seconds=30, require_sidecar=False)
    first_seen = {PurePosixPath("clip.mp4"): NOW - 3600}
    plan = plan_items([entry("clip.mp4"), entry("clip.md.txt")], NOW, rules, first_seen)
    assert plan.ready == ()
    assert plan.waiting[0].reason.endswith("clip.md.txt looks like the sidecar with .txt added; rename it to clip.md")


def test_an_uppercase_md_suffix_pairs_as_it_is() -> None:
    plan = plan_items([entry("clip.mp4"), entry("clip.MD")], NOW, RULES)
    assert [(i.name, i.sidecar) for i in plan.ready] == [("clip", PurePosixPath("clip.MD"))]


def test_a_real_inbox_names_the_phone_sidecar_and_leaves_it_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"video")
    (tmp_path / "clip.md.txt").write_text("---\ncaption: hi\n---\n")
    plan = plan_items(scan_entries(tmp_path), time.time() + 60, RULES)
    assert [w.reason for w in plan.waiting] == [
        "waiting for its sidecar clip.md; clip.md.txt looks like the sidecar with .txt added; rename it to clip.md"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.md.txt", "clip.mp4"]
