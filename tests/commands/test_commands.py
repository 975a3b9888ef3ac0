"""The command modules: one per verb, and the light ones load neither PyAV nor httpx."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pqdrop

PACKAGE = Path(pqdrop.__file__).parent
HEAVY = ("av", "httpx")


def loaded_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running `code`."""
    probe = f"import json, sys\n{code}\nprint(json.dumps(sorted(n for n in {HEAVY!r} if n in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return list(json.loads(result.stdout.splitlines()[-1]))


@pytest.mark.parametrize("module", ["pqdrop.commands.status", "pqdrop.commands.retry", "pqdrop.commands.check"])
def test_a_light_command_module_loads_neither_pyav_nor_httpx(module: str) -> None:
    assert loaded_after(f"import {module}") == []


def test_check_help_loads_neither_pyav_nor_httpx() -> None:
    code = "from pqdrop.commands import main\ntry:\n    main(['check', '--help'])\nexcept SystemExit:\n    pass"
    assert loaded_after(code) == []


def test_the_probe_sees_a_heavy_import() -> None:
    assert loaded_after("import pqdrop.posting.pipeline") == ["av", "httpx"]


def imports_of(path: Path) -> set[str]:
    """Every pqdrop module `path` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("pqdrop")}


@pytest.mark.parametrize("module", ["folders/recovery.py", "schedule/tracker.py", "commands/check.py"])
def test_the_sweep_the_tracker_and_check_do_not_import_the_pipeline(module: str) -> None:
    assert "pqdrop.posting.pipeline" not in imports_of(PACKAGE / module)


def test_status_and_retry_do_not_import_the_workers() -> None:
    assert {"pqdrop.service.workers", "pqdrop.posting.pipeline"} & (
        imports_of(PACKAGE / "commands/status.py") | imports_of(PACKAGE / "commands/retry.py")
    ) == set()


def test_every_verb_has_its_module() -> None:
    from pqdrop.commands import build_parser

    parser = build_parser()
    verbs = next(action for action in parser._actions if action.dest == "command").choices
    assert verbs is not None
    # `try` is Python's keyword: its module is trial.py. Beside the verbs' modules stand helpers of several
    # (docs.py generates the reference pages, history.py tells status.log's story).
    wanted = {"trial" if verb == "try" else verb for verb in verbs}
    modules = {path.stem for path in (PACKAGE / "commands").glob("*.py")}
    assert sorted(wanted - modules) == []


def test_no_module_is_past_800_lines() -> None:
    """Modules are split by concept, not by length (a 600-line module of one idea beats two halves); past
    800 lines a module surely holds more than one idea."""
    lengths = {str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
               for path in PACKAGE.rglob("*.py")}
    assert {name: length for name, length in lengths.items() if length > 800} == {}
