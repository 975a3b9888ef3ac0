"""`pqdrop demo`: the whole flow on a throw-away folder, against the built-in sandbox, no account needed."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import tempfile
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pqdrop.commands.once import print_table
from pqdrop.config import Config, parse_config
from pqdrop.inbox.items import FAILED_DIR, SCHEDULE_FILE, SCHEDULED_DIR, SENT_DIR
from pqdrop.instants import iso_z, parse_instant
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.ratelimit import RateLimiter
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import Workers, once

DEMO_KEY = "pq_sandbox"
# One request to three platforms, each with its own options (PostQued v2).
CROSS_POST = """\
intent: publish
targets:
  - platform: tiktok
    privacyLevel: PUBLIC_TO_EVERYONE
  - platform: instagram
    options:
      postType: reel
  - platform: youtube
    options:
      visibility: public
      title: One clip everywhere
"""


def make_demo_inbox(inbox: Path, now: datetime) -> None:
    """A phone clip, a scheduled .mov, a WebM draft, one clip to two accounts, one to three platforms, a carousel,
    and a broken sidecar."""
    make_video(inbox / "phone-clip.mp4", width=640, height=360, seconds=2, fps=30, rotation=90)
    _sidecar(inbox / "phone-clip.md", "intent: publish\nprivacyLevel: PUBLIC_TO_EVERYONE\n", "Made on a phone #fyp")
    make_video(inbox / "tomorrow.mov", width=720, height=1280, seconds=2, fps=30)
    later = iso_z(now + timedelta(days=1))
    _sidecar(inbox / "tomorrow.md", f"intent: publish\ndispatchAt: {later}\n", "Scheduled for tomorrow")
    make_video(inbox / "draft.webm", width=720, height=1280, seconds=2, fps=30)
    _sidecar(inbox / "draft.md", "intent: draft\ndisableDuet: true\n", "A draft for the TikTok inbox")
    make_video(inbox / "two-accounts.mp4", width=1080, height=1920, seconds=2, fps=30)
    targets = "intent: publish\ntargets:\n  - account: '@mybrand'\n  - account: '@otherbrand'\n    intent: draft\n"
    _sidecar(inbox / "two-accounts.md", targets, "One clip, two accounts")
    make_video(inbox / "everywhere.mp4", width=1080, height=1920, seconds=2, fps=30)
    _sidecar(inbox / "everywhere.md", CROSS_POST, "One clip: TikTok, Reels and Shorts")
    carousel = inbox / "carousel"
    carousel.mkdir()
    for number in (1, 2, 3):
        make_image(carousel / f"photo-{number}.jpg", width=1080, height=1350)
    _sidecar(carousel / "post.md", "intent: publish\nautoAddMusic: true\n", "Three photos, one post")
    make_video(inbox / "typo.mp4", width=720, height=1280, seconds=1, fps=30)
    _sidecar(inbox / "typo.md", "intent: publish\ndispatchat: 2026-12-01T18:00:00+01:00\n", "A typo in a key")


def demo_config(root: Path, base_url: str) -> Config:
    raw = {
        "inbox": {"path": str(root / "inbox"), "settle_seconds": 0.0, "folder_settle_seconds": 0.0,
                  "watch": "poll"},
        "postqued": {"base_url": base_url, "follow_seconds": 20.0},
        "defaults": {"account": "@mybrand", "intent": "draft", "timezone": "UTC"},
        "state": {"dir": str(root / "state")},
    }
    return parse_config(raw, root / "config.toml")


def run_demo(*, keep: bool = False) -> int:
    """Make the folder, serve the sandbox, process everything once, print what happened; `keep` leaves the folder."""
    logging.getLogger("pqdrop").setLevel(logging.WARNING)  # the table below tells the story
    with contextlib.ExitStack() as stack:
        if keep:
            root = Path(tempfile.mkdtemp(prefix="pqdrop-demo-"))
        else:
            root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pqdrop-demo-")))
        sandbox = stack.enter_context(Sandbox(processing_seconds=0.3))
        (root / "inbox").mkdir()
        kept = "kept when the demo ends" if keep else "deleted when the demo ends; `pqdrop demo --keep` keeps it"
        print(f"demo folder {root / 'inbox'} ({kept}); PostQued sandbox at {sandbox.url}")
        print("making media with PyAV ...", flush=True)
        make_demo_inbox(root / "inbox", datetime.now(UTC))
        config = demo_config(root, sandbox.url)
        limiter = RateLimiter.of(config.postqued.rate_limits)
        journal = Journal(config.state.dir)
        with PostQued(config.postqued.base_url, DEMO_KEY, limiter=limiter, api=config.postqued.api) as client, Workers(
            config, client, journal, stop=threading.Event()
        ) as service:
            _, round_ = once(service)
            rows = [(r.name, str(r.state), r.message or r.publish_id or "") for r in round_.results]
            print()
            print_table(("item", "state", "publishId / reason"), rows)
            print()
            _print_targets(root / "inbox" / SENT_DIR / "everywhere.status.json")
            print()
            for folder in (SCHEDULED_DIR, SENT_DIR, FAILED_DIR):
                names = sorted(path.name for path in (root / "inbox" / folder).glob("*"))
                print(f"{folder}/: {', '.join(names)}")
            change_your_mind(root / "inbox", service)
        journal.close()
        if keep:
            print(f"\nthe demo folder stays: {root / 'inbox'} (its journal in {root / 'state'}); remove it with "
                  f"rm -r {shlex.quote(str(root))}")
    return 0


def change_your_mind(inbox: Path, service: Workers) -> None:
    """Move the scheduled post a day on by editing its sidecar in scheduled/, as a phone would."""
    schedule = inbox / SCHEDULE_FILE
    print(f"\n{SCHEDULE_FILE} before:\n")
    print(_indented(schedule.read_text(encoding="utf-8")))
    path = inbox / SCHEDULED_DIR / "tomorrow.md"
    text = path.read_text(encoding="utf-8")
    old = text.split("dispatchAt: ", 1)[1].split("\n", 1)[0]
    new = (parse_instant(old) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    temporary = path.with_name(f".{path.name}.sync-tmp")  # the way sync tools deliver a new version
    temporary.write_text(text.replace(old, new), encoding="utf-8")
    os.replace(temporary, path)
    print(f"\nedited {SCHEDULED_DIR}/tomorrow.md: dispatchAt {old} -> {new}")
    service.follow()
    status = json.loads((inbox / SCHEDULED_DIR / "tomorrow.status.json").read_text(encoding="utf-8"))
    edit, publish_id = status.get("edit", {}), status.get("publishId")
    if "replaces" in edit:  # v1 moves no target: the old post is canceled and the edited one published
        how = f"publish {edit['replaces']} canceled, {publish_id} made in its place"
    else:  # v2: PATCH /v2/publish/target/{id} moves it in place
        how = f"publish {publish_id} moved in place"
    print(f"pqdrop: {edit.get('kind', 'unchanged')} ({how}; {', '.join(edit.get('from', []))} -> "
          f"{', '.join(edit.get('to', []))})")
    print(f"\n{SCHEDULE_FILE} after:\n")
    print(_indented(schedule.read_text(encoding="utf-8")))


def _indented(text: str) -> str:
    return "\n".join(f"    {line}" if line else "" for line in text.splitlines())


def _print_targets(status_file: Path) -> None:
    """Where the cross-platform item went: one line per platform, with its post's link."""
    if not status_file.is_file():
        return
    status = json.loads(status_file.read_text(encoding="utf-8"))
    print(f"targets of everywhere, one request (publish {status.get('publishId')}):")
    for target in status.get("targets", []):
        print(f"  {target.get('platform', '?'):<10} {target.get('status', '?'):<10} {target.get('url', '')}")


def _sidecar(path: Path, frontmatter: str, caption: str) -> None:
    path.write_text(f"---\n{frontmatter}---\n{caption}\n", encoding="utf-8")
