"""`pqdrop try [DIR]`: a trial in one command. An inbox, a config and the built-in sandbox in DIR, the daemon in front.

The sandbox keeps its posts in DIR/sandbox/, so a trial over days keeps its schedule across
restarts: running the same command again resumes it. Nothing here reaches the real PostQued.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pqdrop.commands.init import machine_zone
from pqdrop.commands.sandbox import SANDBOX_KEY
from pqdrop.errors import EXIT_USAGE
from pqdrop.names import shown

if TYPE_CHECKING:
    from pqdrop.service.daemon import Signals

DEFAULT_FOLDER = "pqdrop-trial"
CONFIG_FILE = "config.toml"
KEY_FILE = "api_key"
SAMPLE = "hello"
# The trial's own config; relative paths are read from the config's folder, so DIR can move.
# base_url is rewritten at every start: the sandbox takes a free port each time.
CONFIG_TEXT = """\
# pqdrop try: a trial against the built-in sandbox (nothing reaches the real PostQued).
# `pqdrop try {folder}` resumes it; `pqdrop --config {config} status` shows it from another terminal.

[inbox]
path = "inbox"
settle_seconds = 1.0

[postqued]
base_url = "{base_url}"   # rewritten at every start of the trial
api_key_file = "{key_file}"   # the sandbox's key, {key}

[defaults]
account = "@mybrand"
intent = "publish"
timezone = "{timezone}"

[state]
dir = "state"
"""
BASE_URL_LINE = re.compile(r'^base_url = "[^"\n]*"', flags=re.MULTILINE)


def run_trial(folder: Path, signals: Signals) -> int:
    """Make (or reopen) the trial in `folder`, serve the sandbox and run the daemon until Ctrl-C or SIGTERM."""
    from pqdrop.commands.run import run_daemon
    from pqdrop.config import load_config
    from pqdrop.sandbox import Sandbox
    from pqdrop.sandbox.snapshot import STATE_FILE, SnapshotError

    folder = folder.expanduser().absolute()
    for part in ("inbox", "state", "sandbox", "samples"):
        try:
            (folder / part).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(shown(f"pqdrop try: cannot make {folder / part}: {exc.strerror}; give a DIR you can write in "
                        "(pqdrop try DIR)"), file=sys.stderr)
            return EXIT_USAGE
    resumed = (folder / "sandbox" / STATE_FILE).is_file()
    try:
        sandbox = Sandbox(port=0, api_keys=(SANDBOX_KEY,), state_dir=folder / "sandbox").start()
    except SnapshotError as exc:
        print(shown(f"pqdrop try: the sandbox's state {exc}"), file=sys.stderr)
        return EXIT_USAGE
    try:
        config_path = write_config(folder, sandbox.url)
        sample = make_sample(folder / "samples")
        # The trial's key is the sandbox's: a real key exported in this shell is not sent even to loopback.
        os.environ.pop("POSTQUED_API_KEY", None)
        config = load_config(config_path)
        print(greeting(folder, sandbox.url, sample, resumed=resumed), flush=True)
        return run_daemon(config, signals)
    finally:
        sandbox.stop()


def write_config(folder: Path, base_url: str) -> Path:
    """The trial's config and key file; an existing config keeps every edit but gets today's sandbox URL."""
    path = folder / CONFIG_FILE
    key = folder / KEY_FILE
    if not key.is_file():
        key.write_text(SANDBOX_KEY + "\n", encoding="utf-8")
        key.chmod(0o600)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        updated, count = BASE_URL_LINE.subn(f'base_url = "{base_url}"', text, count=1)
        if count == 1 and updated != text:
            path.write_text(updated, encoding="utf-8")
        return path
    path.write_text(CONFIG_TEXT.format(folder=folder, config=path, base_url=base_url, key_file=KEY_FILE,
                                       key=SANDBOX_KEY, timezone=machine_zone(os.environ).name), encoding="utf-8")
    return path


def make_sample(samples: Path) -> Path:
    """A two-second clip and its sidecar to drop, made once with PyAV (for a trial with no video at hand)."""
    video = samples / f"{SAMPLE}.mp4"
    if not video.is_file():
        from pqdrop.media.mediagen import make_video

        make_video(video, width=720, height=1280, seconds=2, fps=30)
    sidecar = samples / f"{SAMPLE}.md"
    if not sidecar.is_file():
        sidecar.write_text("---\nintent: publish\nprivacyLevel: PUBLIC_TO_EVERYONE\n---\n"
                           "My first post through pqdrop #fyp\n", encoding="utf-8")
    return video


def greeting(folder: Path, base_url: str, sample: Path, *, resumed: bool) -> str:
    """What to drop where, and where it ends up."""
    inbox = folder / "inbox"
    state = folder / "sandbox"
    kept = "resumed: its posts and schedule are kept" if resumed else "new; kept across restarts"
    return "\n".join((
        f"pqdrop trial in {folder}",
        f"  PostQued sandbox on {base_url} (key {SANDBOX_KEY}); its state in {state} ({kept})",
        f"  config {folder / CONFIG_FILE}",
        "",
        f"Drop a video and its .md sidecar into {inbox}, for example:",
        f"  cp {sample} {sample.with_suffix('.md')} {inbox}/",
        f"It moves to {inbox}/sent/ once posted, scheduled/ while it waits for its dispatchAt, failed/ with a",
        "NAME.status.json saying why when it is refused. In another terminal:",
        f"  {program()} --config {folder / CONFIG_FILE} status",
        "Ctrl-C stops the trial; the same command resumes it.",
        "",
    ))


def program() -> str:
    """How this pqdrop was called (`.venv/bin/pqdrop` from a clone), so the command it prints runs as shown."""
    called = sys.argv[0] if sys.argv else ""
    return called if Path(called).name == "pqdrop" else "pqdrop"
