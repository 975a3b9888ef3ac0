"""The startup sweep: reconcile the journal with what is on disk after a crash or a stop.

A claim cut short is finished, and so is a give-back; a claim no journal knows (the journal
was lost) or whose owner is gone goes back to the inbox, where it is taken afresh, unless that
owner had begun to file it: then it waits in processing/ for its owner to finish. Items the
journal knows mid-way are left for the pipeline to resume at their recorded step.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pqdrop.folders.claim import ClaimName, being_filed, claim_dir, complete, give_back, processing_dir, stopped_owner
from pqdrop.journal.store import Journal, Record
from pqdrop.states import Step

log = logging.getLogger("pqdrop")


def sweep(inbox: Path, journal: Journal, owner: str) -> list[str]:
    """Reconcile the journal with processing/; returns what was done, one line each."""
    notes = []
    folder = processing_dir(inbox)
    for record in journal.unfinished():
        if record.state is Step.RETURNING:
            notes.append(finish_return(inbox, journal, record))
            continue
        if record.state is not Step.CLAIMING:
            continue
        claimed = claim_dir(inbox, record.claim)
        if claimed.is_dir() and any(claimed.iterdir()):
            complete(inbox, record.item.paths, record.claim)
            journal.set_state(record.id, Step.CLAIMED)
            notes.append(f"{record.name}: claim finished after a crash")
        else:
            if claimed.is_dir():
                claimed.rmdir()
            journal.forget(record.id)
    known = journal.claims()
    for claimed in sorted(folder.iterdir()) if folder.is_dir() else []:
        name = ClaimName.parse(claimed.name)
        if name is not None and claimed.is_symlink():
            # Not a claim pqdrop made: returning "its files" would bring whatever it leads to into the inbox.
            notes.append(f"processing/{claimed.name} is a symbolic link, not a claim pqdrop made; nothing is "
                         "moved through it: delete it")
            continue
        if name is None or not claimed.is_dir() or claimed.name in known:
            continue
        if name.owner == owner:
            notes.append(_return_orphan(inbox, claimed.name, name.item))
            continue
        with stopped_owner(inbox, name.owner) as stopped:  # it cannot start while its claim is moved
            if not stopped or not claimed.is_dir():
                continue  # its owner runs, or a third pqdrop returned it meanwhile
            if being_filed(inbox, claimed.name):
                # Published and maybe half filed: returning the rest would file it twice or split it.
                notes.append(f"{name.item}: left in processing/ for the stopped pqdrop {name.owner}, "
                             "which had begun to file it, to finish")
            else:
                notes.append(_return_twins_orphan(inbox, claimed.name, name.item, owner))
    for note in notes:
        log.warning(note)
    return notes


def _return_orphan(inbox: Path, claim: str, item: str) -> str:
    return _returned(item, give_back(inbox, claim))


def _return_twins_orphan(inbox: Path, claim: str, item: str, owner: str) -> str:
    """Return a stopped twin's claim, first renamed to this pqdrop's name, so a crash mid-way never splits it.

    Back, the twin finds its claim gone and leaves the item; the half returned, under this owner's
    name and in no journal, is an orphan the next sweep (this pqdrop's or the twin's) returns whole.
    """
    adopted = str(ClaimName.new(item, owner))
    os.rename(claim_dir(inbox, claim), claim_dir(inbox, adopted))
    kept = give_back(inbox, adopted)
    if kept:  # nothing moved: the claim stays its owner's, to resume as it was
        os.rename(claim_dir(inbox, adopted), claim_dir(inbox, claim))
    return _returned(item, kept)


def _returned(item: str, kept: list[str]) -> str:
    return f"{item}: returned to the inbox from an orphaned claim" + (
        f" (kept in processing/: {', '.join(kept)} is taken in the inbox)" if kept else "")


def finish_return(inbox: Path, journal: Journal, record: Record) -> str:
    """Finish a give-back a crash cut short; when a name is taken in the inbox meanwhile, take the item back whole."""
    taken = give_back(inbox, record.claim)
    if taken:
        complete(inbox, record.item.paths, record.claim)
        journal.set_state(record.id, Step.CLAIMED)
        return f"{record.name}: kept in processing/ ({', '.join(taken)} is taken in the inbox); it resumes from there"
    journal.set_state(record.id, Step.RETURNED)
    return f"{record.name}: returned to the inbox, as it was being when pqdrop stopped"
