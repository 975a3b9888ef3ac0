"""Any bytes a stranger can drop are a Sidecar or a clean refusal (issue 21): property tests with hypothesis.

The reader is fed what a file may hold — raw bytes, YAML-shaped text full of anchors, nesting and
odd punctuation, near-misses of real sidecars — and must answer with a `Sidecar` or a `SidecarError`
naming the file, never another exception, within a bound far below a person's patience. The name
handling is fed any bytes the filesystem allows.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pqdrop.config import DefaultsConfig
from pqdrop.errors import SidecarError
from pqdrop.names import NAME_MAX, byte_length, fit, for_api, from_column, json_text, natural_key, shown, to_column
from pqdrop.sidecar.changes import asks_cancel, written_times
from pqdrop.sidecar.loader import SidecarLoader, TooComplex
from pqdrop.sidecar.parse import TOP_LEVEL_KEYS, Sidecar, parse_sidecar

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DEFAULTS = DefaultsConfig(account="@mybrand", intent="publish", timezone="Europe/Berlin")
# Each example is bounded: a hang or a blow-up (PyYAML's recursion, an alias bomb) would blow this by far.
BOUND = timedelta(seconds=5)
PROPERTY = settings(max_examples=300, deadline=BOUND, suppress_health_check=[HealthCheck.too_slow])

YAML_PIECES = ["---", "\n", " ", "  ", ": ", "- ", "[", "]", "{", "}", ",", "&a ", "*a", "&b ", "*b", "!!str ",
               "!!python/object ", "|", ">", "'", '"', "#", "%YAML 1.1", "@", "`", "?", "\t", "\ufeff", "\u2014",
               "\u201c", "\u201d", "\r\n", "~", "null", "true", "2026-12-01T18:00:00", "18:00", "0x1F", "1e9",
               *(f"{key}: " for key in TOP_LEVEL_KEYS), "tiktok", "@mybrand", "PUBLIC_TO_EVERYONE", "\x00"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("properties")


def read(folder: Path, raw: bytes) -> Sidecar | SidecarError:
    """What the reader makes of a file holding `raw`: the Sidecar, or the refusal."""
    path = folder / "clip.md"
    path.write_bytes(raw)
    try:
        return parse_sidecar(path, DEFAULTS, NOW)
    except SidecarError as exc:
        return exc


def judged(result: Sidecar | SidecarError) -> None:
    if isinstance(result, SidecarError):
        assert result.message.startswith("clip.md: "), result.message
        assert result.code.startswith("SIDECAR") or result.code in ("TIKTOK_RULE", "CAPTION_TOO_LONG"), result.code
    else:
        assert result.targets and all(target.account for target in result.targets)


@PROPERTY
@given(st.binary(max_size=2048))
def test_any_bytes_are_a_sidecar_or_a_clean_refusal(folder: Path, raw: bytes) -> None:
    judged(read(folder, raw))


@PROPERTY
@given(st.lists(st.sampled_from(YAML_PIECES) | st.text(max_size=6), max_size=80))
def test_any_yaml_shaped_frontmatter_is_a_sidecar_or_a_clean_refusal(folder: Path, pieces: list[str]) -> None:
    text = "---\n" + "".join(pieces) + "\n---\nA caption\n"
    judged(read(folder, text.encode("utf-8", "surrogatepass")))
    try:  # what an edit in scheduled/ reads of the same text: a refusal by name, or an answer
        asks_cancel(text, "clip.md")
    except SidecarError as exc:
        assert exc.message.startswith("clip.md: ")
    written_times(text)


@PROPERTY
@given(st.integers(min_value=1, max_value=60), st.integers(min_value=1, max_value=12))
def test_deep_nesting_and_alias_bombs_are_refused_by_name(folder: Path, depth: int, width: int) -> None:
    nested = "caption: " + "[" * depth + "x" + "]" * depth + "\n"
    # A "billion laughs": each level repeats the one below `width` times; `targets:` makes the reader walk it.
    levels = ", ".join(f"&a{n} [{', '.join([f'*a{n - 1}'] * width)}]" for n in range(1, 9))
    bomb = f"targets:\n  - [&a0 x, {levels}]\n"
    for frontmatter in (nested, bomb):
        result = read(folder, f"---\n{frontmatter}---\nA caption\n".encode())
        judged(result)


@PROPERTY
@given(st.binary(min_size=1, max_size=400).filter(lambda raw: b"/" not in raw and b"\x00" not in raw))
def test_any_file_name_is_shown_on_one_line_told_as_utf8_and_stored_losslessly(raw: bytes) -> None:
    name = os.fsdecode(raw)
    line = shown(name)
    assert len(line.splitlines()) <= 1 and "\x1b" not in line  # one line, no terminal escape
    told = for_api(name)
    told.encode("utf-8")  # never a surrogate: PostQued gets valid UTF-8
    assert "/" not in told and len(told) <= NAME_MAX
    assert from_column(to_column(name)) == name
    assert byte_length(fit(name, 64)) <= 64
    assert os.fsencode(fit(name, 10_000)) == raw
    natural_key(name)
    json_text({"name": name}).encode("utf-8")


def test_a_megabyte_of_keys_is_refused_where_the_limit_is_reached_not_after_reading_it_all() -> None:
    """100,000 keys (1.4 MB of YAML): the composer stops at the 10,000th value, in the first tenth of the file."""
    text = "\n".join(f"k{number}: v{number}" for number in range(100_000))
    with pytest.raises(TooComplex) as refused:
        yaml.load(text, Loader=SidecarLoader)  # the sidecar's own loader, a SafeLoader
    assert "holds more than 10,000 values" in str(refused.value)
    assert refused.value.line == 5_000  # each line holds a key and its value; the mapping itself is one more
