"""The two tables of sync-tool names: temporaries (still arriving) and conflicted copies."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from pqdrop.inbox.synctools import Match, conflict, describe_conflict, is_clutter, lone_copies, temporary

TEMPORARIES = [
    (".syncthing.02.jpg.tmp", "Syncthing", "02.jpg"),
    ("~syncthing~02.jpg.tmp", "Syncthing", "02.jpg"),
    (".02.jpg.~3fa9c2", "Nextcloud/ownCloud", "02.jpg"),
    (".02.jpg.Xy12Ab", "rsync", "02.jpg"),
    ("02.jpg.partial", "OneDrive/rclone", "02.jpg"),
    ("02.jpg.1a2b3c4d.partial", "OneDrive/rclone", "02.jpg"),
    ("02.jpg.!sync", "Resilio Sync", "02.jpg"),
    ("clip.mp4.part", "Firefox", "clip.mp4"),
    ("clip.mp4.crdownload", "Chrome/Edge", "clip.mp4"),
    ("clip.mp4.download", "Safari", "clip.mp4"),
    ("clip.mp4.opdownload", "Opera", "clip.mp4"),
    (".unison.clip.mp4.a1b2c3.unison.tmp", "Unison", "clip.mp4"),
    (".dropbox.cache", "Dropbox", None),
]


@pytest.mark.parametrize(("name", "tool", "target"), TEMPORARIES, ids=[row[0] for row in TEMPORARIES])
def test_each_tools_temporary_names_the_tool_and_the_file_it_becomes(name: str, tool: str, target: str) -> None:
    match = temporary(name)
    assert match is not None and (match.tool, match.name) == (tool, target)
    assert is_clutter(name)  # never an item of its own


CONFLICTS = [
    ("clip (Jo's conflicted copy 2026-11-02).mp4", "Dropbox/Nextcloud", "clip.mp4"),
    ("clip (conflicted copy 2026-11-02 101010).md", "Dropbox/Nextcloud", "clip.md"),
    ("clip (Case Conflict).mp4", "Dropbox", "clip.mp4"),
    ("clip.sync-conflict-20261102-101010-ABCDEFG.md", "Syncthing", "clip.md"),
    ("clip_conflict-20261102-101010.md", "ownCloud", "clip.md"),
    ("clip (SFConflict jo@example.com 2026-11-02-10-10-10).md", "Seafile", "clip.md"),
    ("clip-laptop-safeBackup-0001.md", "OneDrive", "clip.md"),
]


@pytest.mark.parametrize(("name", "tool", "original"), CONFLICTS, ids=[row[0] for row in CONFLICTS])
def test_each_tools_conflicted_copy_names_the_version_it_competes_with(name: str, tool: str, original: str) -> None:
    match = conflict(name)
    assert match is not None and (match.tool, match.name) == (tool, original)


def test_onedrive_host_copies_are_conflicts_only_beside_their_original() -> None:
    assert conflict("clip-LAPTOP-7Q2.md", frozenset({"clip.md"})) is not None
    assert conflict("clip-LAPTOP-7Q2.md", frozenset()) is None  # nothing to compete with: an ordinary name
    assert conflict("clip-final.md", frozenset({"clip.md"})) is None  # lower case is a person's naming, not a host


EDITS = ["FINAL", "HDR", "4K", "DAY2", "V2", "EDIT", "RAW", "NEW", "TEASER", "PART-2", "9X16"]


@pytest.mark.parametrize("suffix", EDITS)
def test_an_editing_suffix_with_a_sidecar_of_its_own_is_an_ordinary_name(suffix: str) -> None:
    folder = frozenset({"clip.mp4", "clip.md", f"clip-{suffix}.mp4", f"clip-{suffix}.md"})
    assert conflict(f"clip-{suffix}.mp4", folder) is None
    assert conflict(f"clip-{suffix}.md", folder) is None


@pytest.mark.parametrize("suffix", EDITS)
def test_an_editing_suffix_on_a_carousel_photo_is_an_ordinary_name(suffix: str) -> None:
    folder = frozenset({"sunset.jpg", f"sunset-{suffix}.jpg", "beach.md"})
    assert conflict(f"sunset-{suffix}.jpg", folder, in_folder=True) is None


@pytest.mark.parametrize("host", ["DESKTOP-1A2B3C4", "DESKTOP-IPFTTCO", "LAPTOP-AB12CD34", "WIN-8QJ5O0L2T1M"])
def test_a_default_windows_computer_name_beside_the_original_is_always_a_copy(host: str) -> None:
    folder = frozenset({"clip.mp4", "clip.md", f"clip-{host}.mp4", f"clip-{host}.md"})
    assert conflict(f"clip-{host}.mp4", folder) == Match("OneDrive", "clip.mp4")  # even with a sidecar of its own
    assert conflict(f"clip-{host}.md", folder) == Match("OneDrive", "clip.md")
    photos = frozenset({"sunset.jpg", f"sunset-{host}.jpg", "beach.md"})
    assert conflict(f"sunset-{host}.jpg", photos, in_folder=True) == Match("OneDrive", "sunset.jpg")


def test_another_computer_name_is_a_copy_only_where_the_file_has_nothing_to_pair_with() -> None:
    loose = frozenset({"clip.mp4", "clip.md", "clip-STUDIO-PC.md"})
    assert conflict("clip-STUDIO-PC.md", loose) == Match("OneDrive", "clip.md")  # a sidecar with no media of its own
    assert conflict("clip-STUDIO-PC.mp4", loose | {"clip-STUDIO-PC.mp4"}) is None  # now the two are a pair
    assert conflict("clip-STUDIO-PC.mp4", frozenset({"clip.mp4", "clip.md"})) == Match("OneDrive", "clip.mp4")
    carousel = frozenset({"beach.md", "beach-STUDIO-PC.md", "1.jpg"})
    assert conflict("beach-STUDIO-PC.md", carousel, in_folder=True) == Match("OneDrive", "beach.md")  # 2nd sidecar


def test_ordinary_names_are_neither() -> None:
    for name in ("clip.mp4", "IMG_0001.HEIC", "trip (2).md", "a.b.c.jpg", "2026-11-02 clip.mp4"):
        assert temporary(name) is None and conflict(name) is None, name


def test_lone_conflicted_copies_are_said_by_the_item_they_would_make_with_the_rename_that_posts_them() -> None:
    copies = [PurePosixPath("beach (Anna's conflicted copy 2026-12-01).mp4"),
              PurePosixPath("beach (Anna's conflicted copy 2026-12-01).md"),
              PurePosixPath("clip.sync-conflict-20261102-101010-ABCDEFG.md"),  # clip is an item: this one holds it
              PurePosixPath("trip/01 (conflicted copy 2026-11-02 101010).jpg")]
    [beach, trip] = lone_copies(copies, ["clip"])
    assert (beach.item, beach.paths) == ("beach", tuple(copies[:2]))
    assert beach.message == (
        "not posted: beach (Anna's conflicted copy 2026-12-01).mp4 and beach (Anna's conflicted copy 2026-12-01).md "
        "are Dropbox/Nextcloud conflicted copies, and beach.mp4 and beach.md are not there; rename them to beach.mp4 "
        "and beach.md to post them")
    assert trip.message == ("not posted: trip/01 (conflicted copy 2026-11-02 101010).jpg is a Dropbox/Nextcloud "
                            "conflicted copy, and trip/01.jpg is not there; rename it to trip/01.jpg to post it")
    assert lone_copies(copies, ["beach", "clip", "trip"]) == []


def test_a_copy_whose_original_is_not_there_says_to_rename_it_not_to_keep_one_version() -> None:
    match = Match("Dropbox/Nextcloud", "01.jpg")
    assert describe_conflict("trip/01 (x conflicted copy).jpg", match, present=False) == (
        "trip/01 (x conflicted copy).jpg is a Dropbox/Nextcloud conflicted copy of 01.jpg, which is not there: "
        "rename it to 01.jpg, then the item is posted")
