"""The two tables of sync-tool names: temporaries (still arriving) and conflicted copies."""

from __future__ import annotations

import pytest

from pqdrop.synctools import conflict, is_clutter, temporary

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


def test_ordinary_names_are_neither() -> None:
    for name in ("clip.mp4", "IMG_0001.HEIC", "trip (2).md", "a.b.c.jpg", "2026-11-02 clip.mp4"):
        assert temporary(name) is None and conflict(name) is None, name
