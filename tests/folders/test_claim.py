"""Claims on a real inbox: atomic takes, give-backs that never overwrite, owner locks across processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from pqdrop.errors import InboxBlocked, ServiceUnavailable
from pqdrop.folders.claim import (
    LOCK_WAIT_SECONDS,
    ClaimName,
    OwnerLock,
    being_filed,
    claim_dir,
    complete,
    give_back,
    lock_path,
    mark_filing,
    owner_alive,
    owner_id,
    processing_dir,
    release,
    running_owners,
    stopped_owner,
    take,
)
from pqdrop.folders.recovery import sweep
from pqdrop.inbox.items import Item
from pqdrop.journal.store import Journal

CLAIM = "clip~own1~0001"
LOOSE = Item("clip", (PurePosixPath("clip.mp4"),), PurePosixPath("clip.md"))


@pytest.fixture
def loose(inbox: Path) -> Item:
    (inbox / "clip.mp4").write_bytes(b"video bytes")
    (inbox / "clip.md").write_text("---\n---\nA caption\n")
    return LOOSE


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_take_moves_the_media_first_then_the_sidecar_into_the_claim_folder(
    inbox: Path, loose: Item, monkeypatch: pytest.MonkeyPatch
) -> None:
    renames: list[str] = []
    real_rename = os.rename

    def recording_rename(source: str | Path, target: str | Path) -> None:
        renames.append(Path(source).name)
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", recording_rename)
    assert take(inbox, loose, CLAIM) is True
    assert renames == ["clip.mp4", "clip.md"]
    assert listing(claim_dir(inbox, CLAIM)) == ["clip.md", "clip.mp4"]
    assert (claim_dir(inbox, CLAIM) / "clip.mp4").read_bytes() == b"video bytes"
    assert not (inbox / "clip.mp4").exists() and not (inbox / "clip.md").exists()


def test_a_bundle_folder_is_claimed_whole_in_one_rename(inbox: Path) -> None:
    folder = inbox / "trip"
    folder.mkdir()
    for name in ("a.jpg", "b.jpg", "post.md"):
        (folder / name).write_bytes(name.encode())
    item = Item("trip", (PurePosixPath("trip/a.jpg"), PurePosixPath("trip/b.jpg")), PurePosixPath("trip/post.md"),
                PurePosixPath("trip"))
    assert take(inbox, item, "trip~own1~0002") is True
    assert listing(claim_dir(inbox, "trip~own1~0002") / "trip") == ["a.jpg", "b.jpg", "post.md"]
    assert not folder.exists()


def test_a_second_take_of_an_item_already_claimed_loses_and_leaves_no_empty_claim_folder(
    inbox: Path, loose: Item
) -> None:
    assert take(inbox, loose, CLAIM) is True
    assert take(inbox, loose, "clip~own2~0002") is False
    assert listing(processing_dir(inbox)) == [CLAIM]
    assert listing(claim_dir(inbox, CLAIM)) == ["clip.md", "clip.mp4"]


def test_a_take_that_loses_the_media_leaves_the_sidecar_in_the_inbox(inbox: Path) -> None:
    (inbox / "clip.md").write_text("---\n---\nA caption\n")
    assert take(inbox, LOOSE, CLAIM) is False
    assert listing(inbox) == ["clip.md", "processing"]
    assert listing(processing_dir(inbox)) == []


def test_give_back_returns_every_file_to_the_inbox_and_removes_the_claim_folder(inbox: Path, loose: Item) -> None:
    take(inbox, loose, CLAIM)
    assert give_back(inbox, CLAIM) == []
    assert listing(inbox) == ["clip.md", "clip.mp4", "processing"]
    assert (inbox / "clip.mp4").read_bytes() == b"video bytes"
    assert not claim_dir(inbox, CLAIM).exists()


def test_give_back_moves_nothing_when_a_same_named_file_arrived_in_the_meantime(inbox: Path, loose: Item) -> None:
    take(inbox, loose, CLAIM)
    (inbox / "clip.mp4").write_bytes(b"a newer video")
    assert give_back(inbox, CLAIM) == ["clip.mp4"]
    assert (inbox / "clip.mp4").read_bytes() == b"a newer video"
    # All or none: the old sidecar beside the new video would make a post of the wrong pair.
    assert listing(claim_dir(inbox, CLAIM)) == ["clip.md", "clip.mp4"]
    assert (claim_dir(inbox, CLAIM) / "clip.mp4").read_bytes() == b"video bytes"
    assert listing(inbox) == ["clip.mp4", "processing"]


def test_give_back_run_again_after_a_crash_moves_the_rest(inbox: Path, loose: Item) -> None:
    take(inbox, loose, CLAIM)
    os.rename(claim_dir(inbox, CLAIM) / "clip.md", inbox / "clip.md")  # the first move, then the crash
    assert give_back(inbox, CLAIM) == []
    assert listing(inbox) == ["clip.md", "clip.mp4", "processing"]
    assert not claim_dir(inbox, CLAIM).exists()


def test_give_back_of_a_claim_that_is_gone_returns_nothing(inbox: Path) -> None:
    assert give_back(inbox, "ghost~own1~0003") == []


def test_complete_finishes_a_claim_a_crash_cut_short_after_the_media_moved(inbox: Path, loose: Item) -> None:
    claim_dir(inbox, CLAIM).mkdir(parents=True)
    os.rename(inbox / "clip.mp4", claim_dir(inbox, CLAIM) / "clip.mp4")
    complete(inbox, LOOSE.paths, CLAIM)
    assert listing(claim_dir(inbox, CLAIM)) == ["clip.md", "clip.mp4"]
    assert listing(inbox) == ["processing"]


def test_complete_skips_files_already_in_the_claim_and_files_that_vanished(inbox: Path, loose: Item) -> None:
    take(inbox, loose, CLAIM)
    (inbox / "clip.md").write_text("a second sidecar that arrived later")
    complete(inbox, (*LOOSE.paths, PurePosixPath("gone.txt")), CLAIM)
    assert (inbox / "clip.md").read_text() == "a second sidecar that arrived later"
    assert (claim_dir(inbox, CLAIM) / "clip.md").read_text() == "---\n---\nA caption\n"


@pytest.mark.parametrize("text", ["clip~a1b2~c3d4", "my~odd~name~a1b2~c3d4"])
def test_a_claim_name_round_trips_even_when_the_item_name_holds_the_separator(text: str) -> None:
    name = ClaimName.parse(text)
    assert name is not None and str(name) == text
    assert (name.owner, name.token) == ("a1b2", "c3d4")


@pytest.mark.parametrize("text", ["clip", "clip~own", "~own~tok", "clip~~tok"])
def test_a_folder_name_that_is_not_a_claim_parses_to_none(text: str) -> None:
    assert ClaimName.parse(text) is None


def test_owner_id_is_made_once_and_kept_in_the_state_dir(tmp_path: Path) -> None:
    first = owner_id(tmp_path / "state")
    assert owner_id(tmp_path / "state") == first
    assert (tmp_path / "state" / "owner").read_text().strip() == first


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pqdrop.folders.claim import OwnerLock
    lock = OwnerLock(Path(sys.argv[1]), sys.argv[2])
    print("locked", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture
def twin(inbox: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the owner lock of `twin`."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(inbox), "twin"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "locked"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_owner_alive_is_true_while_another_process_holds_the_owner_lock(
    inbox: Path, twin: subprocess.Popen[str]
) -> None:
    assert owner_alive(inbox, "twin") is True


def test_owner_alive_is_false_once_the_holding_process_is_killed(inbox: Path, twin: subprocess.Popen[str]) -> None:
    twin.send_signal(signal.SIGKILL)
    assert twin.wait(timeout=10) == -signal.SIGKILL
    assert lock_path(inbox, "twin").exists()  # SIGKILL leaves the file; only the lock on it is gone
    assert owner_alive(inbox, "twin") is False


def test_owner_alive_is_false_for_an_owner_that_never_ran(inbox: Path) -> None:
    assert owner_alive(inbox, "nobody") is False


def test_a_second_owner_lock_for_the_same_owner_in_one_process_is_refused(inbox: Path) -> None:
    lock = OwnerLock(inbox, "me")
    try:
        with pytest.raises(ServiceUnavailable, match="same \\[state\\].dir"):
            OwnerLock(inbox, "me", wait_seconds=0.2)
        assert owner_alive(inbox, "me") is True
    finally:
        lock.close()


PROBE_LOCK = textwrap.dedent(
    """
    import fcntl, sys, time
    with open(sys.argv[1], "ab") as stream:
        fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def test_a_starting_owner_waits_out_a_twin_that_holds_its_lock_for_a_moment(inbox: Path) -> None:
    # What owner_alive and a twin's sweep do to a stopped owner's lock; a pqdrop starting just then must not give up.
    processing_dir(inbox).mkdir()
    with subprocess.Popen([sys.executable, "-c", PROBE_LOCK, str(lock_path(inbox, "me")), "0.5"],
                          stdout=subprocess.PIPE, text=True) as probe:
        assert probe.stdout is not None and probe.stdout.readline().strip() == "locked"
        started = time.monotonic()
        lock = OwnerLock(inbox, "me")
        waited = time.monotonic() - started
        probe.stdout.close()
    try:
        assert probe.returncode == 0
        assert 0.2 < waited < LOCK_WAIT_SECONDS
        assert owner_alive(inbox, "me") is True
    finally:
        lock.close()


def test_stopped_owner_is_false_while_that_owner_runs(inbox: Path, twin: subprocess.Popen[str]) -> None:
    with stopped_owner(inbox, "twin") as stopped:
        assert stopped is False


def test_stopped_owner_holds_a_dead_owners_lock_so_it_cannot_start_meanwhile(
    inbox: Path, twin: subprocess.Popen[str]
) -> None:
    twin.kill()
    twin.wait(timeout=10)
    with stopped_owner(inbox, "twin") as stopped:
        assert stopped is True
        with pytest.raises(ServiceUnavailable):
            OwnerLock(inbox, "twin", wait_seconds=0.2)
    OwnerLock(inbox, "twin").close()


def test_stopped_owner_also_guards_an_owner_that_stopped_cleanly_and_left_no_lock_file(inbox: Path) -> None:
    OwnerLock(inbox, "gone").close()
    processing_dir(inbox).mkdir()
    with stopped_owner(inbox, "gone") as stopped:
        assert stopped is True
        with pytest.raises(ServiceUnavailable):
            OwnerLock(inbox, "gone", wait_seconds=0.2)


def test_closing_the_owner_lock_frees_it_and_removes_an_empty_processing_folder(inbox: Path) -> None:
    OwnerLock(inbox, "me").close()
    assert owner_alive(inbox, "me") is False
    assert not processing_dir(inbox).exists()


def test_closing_the_owner_lock_keeps_processing_while_claims_remain(inbox: Path, loose: Item) -> None:
    lock = OwnerLock(inbox, "me")
    take(inbox, loose, CLAIM)
    lock.close()
    assert listing(processing_dir(inbox)) == [CLAIM]


def test_running_owners_names_the_pid_of_the_process_holding_an_owner_lock(
    inbox: Path, twin: subprocess.Popen[str]
) -> None:
    assert running_owners(inbox) == {"twin": twin.pid}


def test_running_owners_is_empty_once_the_holder_is_killed_though_its_lock_file_remains(
    inbox: Path, twin: subprocess.Popen[str]
) -> None:
    twin.send_signal(signal.SIGKILL)
    twin.wait(timeout=10)
    assert lock_path(inbox, "twin").exists()
    assert running_owners(inbox) == {}


def test_running_owners_reads_the_kernel_lock_table_instead_of_trying_the_lock(inbox: Path, tmp_path: Path) -> None:
    OwnerLock(inbox, "me").close()
    processing_dir(inbox).mkdir()
    path = lock_path(inbox, "me")
    path.touch()  # a lock file nobody holds; only the table says otherwise
    stat = path.stat()
    table = tmp_path / "locks"
    table.write_text(
        f"1: FLOCK  ADVISORY  WRITE 4242 {os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino} 0 EOF\n"
        f"2: -> FLOCK  ADVISORY  WRITE 4343"
        f" {os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino} 0 EOF\n"
    )
    assert running_owners(inbox, table) == {"me": 4242}
    assert owner_alive(inbox, "me") is False


# --- a twin's sweep of a stopped owner's claims ------------------------------------------------------


def stopped_twins_claim(inbox: Path, loose: Item) -> str:
    claim = "clip~twin~0001"
    assert take(inbox, loose, claim) is True
    return claim


def test_a_sweep_returns_a_stopped_twins_claim_whole_under_its_own_name_first(
    inbox: Path, loose: Item, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claim = stopped_twins_claim(inbox, loose)
    renames: list[tuple[str, str]] = []
    real_rename = os.rename

    def recording_rename(source: str | Path, target: str | Path) -> None:
        renames.append((Path(source).name, Path(target).name))
        real_rename(source, target)

    monkeypatch.setattr(os, "rename", recording_rename)
    assert sweep(inbox, Journal(tmp_path / "state"), "self") == ["clip: returned to the inbox from an orphaned claim"]
    (first_source, first_target), *moves = renames
    adopted = ClaimName.parse(first_target)
    assert first_source == claim and adopted is not None and (adopted.item, adopted.owner) == ("clip", "self")
    assert moves == [("clip.md", "clip.md"), ("clip.mp4", "clip.mp4")]  # the files only after the folder
    assert listing(inbox) == ["clip.md", "clip.mp4", "processing"]
    assert not claim_dir(inbox, claim).exists() and not claim_dir(inbox, str(adopted)).exists()


def test_a_sweep_leaves_a_stopped_twins_claim_under_its_name_when_a_name_is_taken_in_the_inbox(
    inbox: Path, loose: Item, tmp_path: Path
) -> None:
    claim = stopped_twins_claim(inbox, loose)
    (inbox / "clip.md").write_text("a newcomer")
    assert sweep(inbox, Journal(tmp_path / "state"), "self") == [
        "clip: returned to the inbox from an orphaned claim (kept in processing/: clip.md is taken in the inbox)"]
    assert [path.name for path in processing_dir(inbox).iterdir() if path.is_dir()] == [claim]
    assert listing(claim_dir(inbox, claim)) == ["clip.md", "clip.mp4"]


def test_a_sweep_leaves_a_stopped_twins_claim_it_had_begun_to_file_for_that_twin_to_finish(
    inbox: Path, loose: Item, tmp_path: Path
) -> None:
    claim = stopped_twins_claim(inbox, loose)
    mark_filing(inbox, claim)
    assert being_filed(inbox, claim)
    assert sweep(inbox, Journal(tmp_path / "state"), "self") == [
        "clip: left in processing/ for the stopped pqdrop twin, which had begun to file it, to finish"]
    assert listing(claim_dir(inbox, claim)) == [".pqdrop-filing", "clip.md", "clip.mp4"]
    assert listing(inbox) == ["processing"]
    release(inbox, claim)
    assert listing(claim_dir(inbox, claim)) == ["clip.md", "clip.mp4"]


def test_give_back_never_moves_the_filing_mark_into_the_inbox(inbox: Path, loose: Item) -> None:
    assert take(inbox, loose, CLAIM) is True
    mark_filing(inbox, CLAIM)
    assert give_back(inbox, CLAIM) == []
    assert listing(inbox) == ["clip.md", "clip.mp4", "processing"]
    assert not claim_dir(inbox, CLAIM).exists()


def test_a_claim_folder_swapped_for_a_link_brings_nothing_from_where_it_leads_into_the_inbox(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "notes.mp4").write_bytes(b"v")
    (inbox / "notes.md").write_text("---\n---\nmine\n")
    item = Item("notes", (PurePosixPath("notes.mp4"),), PurePosixPath("notes.md"))
    claim = str(ClaimName.new("notes", "owner1"))
    assert take(inbox, item, claim)
    private = tmp_path / "home" / "notes"  # a folder outside the inbox, with files of the item's names
    private.mkdir(parents=True)
    (private / "notes.md").write_text("my diary")
    (private / "id_ed25519").write_text("a key")
    os.rename(claim_dir(inbox, claim), tmp_path / "moved-away")
    claim_dir(inbox, claim).symlink_to(private)  # what a stranger with write access to processing/ can do
    with pytest.raises(InboxBlocked, match=r"is a symbolic link \(to .*home/notes\), not the folder pqdrop made"):
        give_back(inbox, claim)
    with pytest.raises(InboxBlocked, match="pqdrop moves and writes nothing through it"):
        mark_filing(inbox, claim)
    assert sorted(path.name for path in private.iterdir()) == ["id_ed25519", "notes.md"]
    assert sorted(path.name for path in inbox.iterdir()) == ["processing"]


def test_the_sweep_returns_nothing_through_a_link_named_like_an_orphaned_claim(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "processing").mkdir(parents=True)
    private = tmp_path / "home" / ".ssh"
    private.mkdir(parents=True)
    (private / "id_ed25519").write_text("a key")
    owner = owner_id(tmp_path / "state")
    planted = f"{ClaimName.new('keys', owner)}"
    (inbox / "processing" / planted).symlink_to(private)  # named as this pqdrop's own orphaned claim
    journal = Journal(tmp_path / "state")
    try:
        notes = sweep(inbox, journal, owner)
    finally:
        journal.close()
    assert notes == [f"processing/{planted} is a symbolic link, not a claim pqdrop made; nothing is moved through "
                     "it: delete it"]
    assert sorted(path.name for path in private.iterdir()) == ["id_ed25519"]
    assert sorted(path.name for path in inbox.iterdir()) == ["processing"]
