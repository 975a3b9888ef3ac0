"""Session fixtures of the real-service tests: the wheelhouse, the booted box, the sandbox on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.service.box import ROOT, Box, HostSandbox, build_wheelhouse, require_root
from tests.service.commands import PIPX_PREREQUISITE

WHEELHOUSE = ROOT / "build" / "wheelhouse"


@pytest.fixture(scope="session")
def box() -> Iterator[Box]:
    require_root()
    wheel = build_wheelhouse(WHEELHOUSE)
    booted = Box(WHEELHOUSE, wheel)
    booted.build()
    booted.boot()
    booted.run(PIPX_PREREQUISITE)
    yield booted
    booted.stop()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HostSandbox]:
    server = HostSandbox()
    yield server
    server.close()


def configured(starter: str, *, inbox: str, state: str, base_url: str) -> str:
    """The starter config `pqdrop init` wrote, edited as the README says: inbox, state, API, fast settling."""
    replacements = {
        r'^path = .*$': f'path = "{inbox}"',
        r'^dir = .*$': f'dir = "{state}"',
        r'^base_url = .*$': f'base_url = "{base_url}"',
        r'^settle_seconds = .*$': "settle_seconds = 0.5",
    }
    text = starter
    for pattern, value in replacements.items():
        text, count = re.subn(pattern, value, text, count=1, flags=re.MULTILINE)
        assert count == 1, pattern
    return text


def clip(tmp_path: Path, name: str, seconds: float = 1.0, width: int = 360) -> bytes:
    """A real portrait clip (distinct per width and length: a re-drop of the same media is refused)."""
    from pqdrop.media.mediagen import make_video

    return make_video(tmp_path / f"{name}.mp4", seconds=seconds, width=width, height=640).read_bytes()
