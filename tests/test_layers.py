"""The house's import contract (pyproject's [tool.importlinter]) holds, and it has teeth: an import that
breaks a layer makes `lint-imports` fail, naming the import."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the package in `tree`/daemon with `tree`/pyproject.toml's contracts."""
    return subprocess.run([str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env={"PYTHONPATH": str(tree / "daemon"), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def house(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(ROOT / "daemon" / "pqdrop", tmp_path / "daemon" / "pqdrop",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def plant(house: Path, module: str, line: str) -> None:
    path = house / "daemon" / "pqdrop" / module
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("from __future__ import annotations\n")
    path.write_text(head + sep + line + "\n" + rest, encoding="utf-8")


def test_the_package_keeps_its_import_contracts(house: Path) -> None:
    result = lint_imports(house)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken." in result.stdout


def test_sqlite3_imported_into_the_inbox_breaks_the_journals_contract(house: Path) -> None:
    plant(house, "inbox/items.py", "import sqlite3")
    result = lint_imports(house)
    assert result.returncode == 1
    assert "The journal alone touches sqlite3 BROKEN" in result.stdout
    assert "pqdrop.inbox.items -> sqlite3" in result.stdout


def test_the_ground_importing_a_room_above_it_breaks_the_layers(house: Path) -> None:
    plant(house, "names.py", "import pqdrop.posting.pipeline")
    result = lint_imports(house)
    assert result.returncode == 1
    assert "Layers: each package imports only what stands below it BROKEN" in result.stdout
    assert "pqdrop.names -> pqdrop.posting.pipeline" in result.stdout


def test_the_inbox_calling_the_api_breaks_intakes_contract(house: Path) -> None:
    plant(house, "inbox/watcher.py", "import httpx")
    result = lint_imports(house)
    assert result.returncode == 1
    assert "Intake never calls the API BROKEN" in result.stdout
    assert "postqued alone speaks HTTP" in result.stdout


def test_apprise_imported_outside_notify_breaks_its_contract(house: Path) -> None:
    plant(house, "service/workers.py", "import apprise")
    result = lint_imports(house)
    assert result.returncode == 1
    assert "notify alone reaches the user's notifiers (Apprise) BROKEN" in result.stdout
    assert "pqdrop.service.workers -> apprise" in result.stdout
