"""`pqdrop try`: the README's trial, run as written in a fresh folder, posts a dropped video; a restart keeps
the schedule.

The commands come from the README's fenced blocks marked `<!-- trial -->` (the daemon, in front) and
`<!-- trial: drop -->` (what a second terminal does), so the page and the trial cannot drift apart.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import CONTROL, wait_until

from pqdrop.instants import iso_z
from pqdrop.media.mediagen import make_video

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SCRUBBED = ("PQDROP_CONFIG", "POSTQUED_API_KEY", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
            "JOURNAL_STREAM", "CREDENTIALS_DIRECTORY", "XDG_CONFIG_HOME")


def readme_block(marker: str) -> list[str]:
    """The commands of the fenced block right below `<!-- marker -->`, comments and blank lines left out."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^<!-- {re.escape(marker)} -->\n```sh\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no ```sh block below <!-- {marker} -->"
    commands = [re.sub(r"\s+#.*$", "", line).strip() for line in match[1].splitlines()]
    return [command for command in commands if command and not command.startswith("#")]


@pytest.fixture
def newcomer(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder standing for a fresh clone (its .venv/bin/pqdrop is this test run's) and a clean environment."""
    clone = tmp_path / "clone"
    (clone / ".venv" / "bin").mkdir(parents=True)
    (clone / ".venv" / "bin" / "pqdrop").symlink_to(Path(sys.executable).parent / "pqdrop")
    env = {name: value for name, value in os.environ.items() if name not in SCRUBBED}
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), TZ="UTC")
    return clone, env


class Trial:
    """The README's trial command running in the foreground of a shell, as a person starts it."""

    def __init__(self, clone: Path, env: dict[str, str], tmp_path: Path, run: int = 1) -> None:
        [command] = readme_block("trial")
        self.out, self.err = tmp_path / f"trial-{run}.out", tmp_path / f"trial-{run}.err"
        with self.out.open("w") as stdout, self.err.open("w") as stderr:
            # exec: the shell becomes pqdrop, so a signal reaches it as a terminal's Ctrl-C would.
            self.process = subprocess.Popen(["sh", "-c", f"exec {command}"], cwd=clone, env=env, stdout=stdout,
                                            stderr=stderr, text=True)
        wait_until(lambda: "watching " in self.err.read_text() or self.process.poll() is not None, 60)
        assert self.process.poll() is None, self.err.read_text()
        self.folder = clone / command.split()[-1]

    def stop(self) -> int:
        """Ctrl-C, and its exit code."""
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def trials(newcomer: tuple[Path, dict[str, str]], tmp_path: Path) -> Iterator[list[Trial]]:
    started: list[Trial] = []
    yield started
    for trial in started:
        if trial.process.poll() is None:
            trial.stop()


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def test_the_readme_trial_run_as_written_posts_the_dropped_video_to_sent(
    newcomer: tuple[Path, dict[str, str]], trials: list[Trial], tmp_path: Path,
) -> None:
    clone, env = newcomer
    trial = Trial(clone, env, tmp_path)
    trials.append(trial)
    greeting = trial.out.read_text()
    assert f"Drop a video and its .md sidecar into {trial.folder / 'inbox'}" in greeting
    assert f"its state in {trial.folder / 'sandbox'} (new; kept across restarts)" in greeting
    assert f"  .venv/bin/pqdrop --config {trial.folder / 'config.toml'} status\n" in greeting  # runs as shown
    drop = readme_block("trial: drop")
    for command in drop[:-1]:
        subprocess.run(["sh", "-c", command], cwd=clone, env=env, check=True)
    status_path = trial.folder / "inbox" / "sent" / "hello.status.json"
    wait_until(lambda: (read_json(status_path) or {}).get("state") == "published", 60)
    listing = subprocess.run(["sh", "-c", drop[-1]], cwd=clone, env=env, check=True, capture_output=True, text=True)
    assert listing.stdout.split() == ["hello.md", "hello.mp4", "hello.status.json"]
    assert trial.stop() == 0
    # The README's own words for the sample, and the sample is a real video made with PyAV.
    assert (trial.folder / "inbox" / "sent" / "hello.md").read_text().endswith("My first post through pqdrop #fyp\n")
    assert (trial.folder / "samples" / "hello.mp4").read_bytes() == (trial.folder / "inbox" / "sent" /
                                                                     "hello.mp4").read_bytes()


def test_a_restarted_trial_keeps_its_schedule_and_can_still_move_the_post(
    newcomer: tuple[Path, dict[str, str]], trials: list[Trial], tmp_path: Path,
) -> None:
    clone, env = newcomer
    first = Trial(clone, env, tmp_path)
    trials.append(first)
    inbox = first.folder / "inbox"
    tomorrow = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    make_video(tmp_path / "later.mp4", width=720, height=1280, seconds=1, fps=30)
    os.rename(tmp_path / "later.mp4", inbox / "later.mp4")
    (inbox / "later.md").write_text(f"---\ndispatchAt: {iso_z(tomorrow)}\n---\nTomorrow's post\n", encoding="utf-8")
    status_path = inbox / "scheduled" / "later.status.json"
    wait_until(lambda: (read_json(status_path) or {}).get("state") == "scheduled", 60)
    publish_id = (read_json(status_path) or {})["publishId"]
    assert first.stop() == 0

    second = Trial(clone, env, tmp_path, run=2)
    trials.append(second)
    assert "(resumed: its posts and schedule are kept)" in second.out.read_text()
    config = (second.folder / "config.toml").read_text()
    base_url = re.search(r'^base_url = "([^"]+)"', config, flags=re.MULTILINE)
    assert base_url is not None
    known = httpx.get(f"{base_url[1]}/_sandbox/state", headers=CONTROL, timeout=10).json()["publishes"]
    assert [(p["publishId"], [t["status"] for t in p["targets"]]) for p in known] == [(publish_id, ["scheduled"])]
    # The daemon follows the kept post and can still move it: the restarted sandbox knows it.
    later = tomorrow + timedelta(days=1)
    moved = subprocess.run([sys.executable, "-m", "pqdrop", "--config", str(second.folder / "config.toml"),
                            "reschedule", "later", iso_z(later)],
                           cwd=clone, env=env, capture_output=True, text=True, timeout=90, check=False)
    assert moved.returncode == 0, moved.stderr
    wait_until(lambda: (read_json(status_path) or {}).get("edit", {}).get("kind") == "rescheduled", 60)
    assert second.stop() == 0
    status = read_json(status_path) or {}
    assert (status["state"], status["publishId"]) == ("scheduled", publish_id)
    assert not (inbox / "failed").exists() or list((inbox / "failed").iterdir()) == []


def test_a_trial_folder_that_cannot_be_made_exits_2_naming_it(newcomer: tuple[Path, dict[str, str]]) -> None:
    clone, env = newcomer
    (clone / "trial").write_text("a file where the trial's folder goes\n")
    result = subprocess.run([sys.executable, "-m", "pqdrop", "try", "trial"], cwd=clone, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert result.stderr == (f"pqdrop try: cannot make {clone / 'trial' / 'inbox'}: Not a directory; "
                             "give a DIR you can write in (pqdrop try DIR)\n")
    assert (clone / "trial").read_text() == "a file where the trial's folder goes\n"
