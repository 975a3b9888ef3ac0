"""`pipx install` of the built wheel, as the README's first step: the command works from its own venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.service.box import ROOT, build_wheelhouse
from tests.service.conftest import WHEELHOUSE


def test_pipx_install_of_the_wheel_gives_a_pqdrop_whose_help_and_demo_work(tmp_path: Path) -> None:
    wheel = build_wheelhouse(WHEELHOUSE)
    pipx = shutil.which("pipx")
    if pipx is None:  # a throw-away venv with pipx from the wheelhouse (filled from PyPI)
        subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "tool")], check=True)
        subprocess.run([str(tmp_path / "tool" / "bin" / "pip"), "install", "--quiet", "--no-index",
                        "--find-links", str(WHEELHOUSE), "pipx"], check=True)
        pipx = str(tmp_path / "tool" / "bin" / "pipx")
    env = {**os.environ, "PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
           "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(WHEELHOUSE)}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([pipx, "install", str(wheel)], check=True, env=env, capture_output=True, timeout=300)
    pqdrop = tmp_path / "bin" / "pqdrop"
    assert pqdrop.resolve().is_relative_to(tmp_path / "pipx" / "venvs" / "pqdrop")
    helped = subprocess.run([str(pqdrop), "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert helped.returncode == 0 and "demo" in helped.stdout
    demo = subprocess.run([str(pqdrop), "demo"], capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env={key: value for key, value in env.items() if not key.startswith("PYTHON")})
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert str(ROOT) not in demo.stdout + demo.stderr  # it ran from the pipx venv, not this checkout
