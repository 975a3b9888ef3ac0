"""Names as the filesystem holds them: lossless storage, a printable form, pairing, order, length."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import unicodedata

import pytest

from pqdrop.commands import setup_logging
from pqdrop.names import (
    NAME_MAX,
    byte_length,
    fit,
    fit_with,
    for_api,
    from_column,
    json_text,
    natural_key,
    pairing_key,
    shown,
    to_column,
)

LATIN1 = os.fsdecode(b"caf\xe9")  # what Python makes of a Latin-1 name on a UTF-8 system (PEP 383)


def test_a_latin1_name_survives_json_byte_for_byte() -> None:
    text = json_text({"item": LATIN1, "caption": "Café ☕"})
    assert text == '{"item": "caf\\udce9", "caption": "Café ☕"}'  # valid UTF-8, readable Unicode kept
    text.encode("utf-8")  # never raises
    assert os.fsencode(json.loads(text)["item"]) == b"caf\xe9"


def test_a_latin1_name_survives_sqlite_byte_for_byte() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (name TEXT)")
    db.executemany("INSERT INTO t VALUES (?)", [(to_column(LATIN1),), (to_column("Café"),)])
    names = [from_column(row[0]) for row in db.execute("SELECT name FROM t")]
    assert [os.fsencode(str(name)) for name in names] == [b"caf\xe9", "Café".encode()]
    assert db.execute("SELECT count(*) FROM t WHERE name = ?", (to_column(LATIN1),)).fetchone()[0] == 1


def test_shown_writes_undecodable_bytes_as_hex_and_leaves_unicode_alone() -> None:
    assert shown(LATIN1 + ".mp4") == "caf\\xe9.mp4"
    assert shown("Café.mp4") == "Café.mp4"


def test_the_api_hears_a_latin1_name_as_windows_1252_without_separators() -> None:
    assert for_api(LATIN1 + ".mp4") == "café.mp4"
    assert for_api("a\\b.mp4") == "a_b.mp4"
    assert len(for_api("x" * 300 + ".mp4")) == 255 and for_api("x" * 300 + ".mp4").endswith(".mp4")


def test_composed_and_decomposed_spellings_pair() -> None:
    composed, decomposed = unicodedata.normalize("NFC", "Café"), unicodedata.normalize("NFD", "Café")
    assert composed != decomposed
    assert pairing_key(composed) == pairing_key(decomposed)
    assert pairing_key(LATIN1) == LATIN1  # undecodable bytes pass through unchanged


def test_natural_order_reads_numbers_as_a_person_does() -> None:
    names = [f"{number}.jpg" for number in range(1, 13)]
    assert sorted(names) [:3] == ["1.jpg", "10.jpg", "11.jpg"]  # byte order, the old bug
    assert sorted(names, key=natural_key) == names
    assert sorted(["IMG_10.JPG", "img_9.jpg", "IMG_0011.jpg"], key=natural_key) == [
        "img_9.jpg", "IMG_10.JPG", "IMG_0011.jpg"]


def test_fit_cuts_at_a_character_boundary_within_the_byte_limit() -> None:
    name = "é" * 200  # 400 bytes
    assert byte_length(fit(name)) == 254 and fit(name) == "é" * 127
    assert fit("short") == "short"
    longest = fit_with("é" * 200, ".status.json")
    assert longest.endswith(".status.json") and byte_length(longest) <= NAME_MAX


def test_shown_escapes_control_characters_so_a_name_stays_one_printable_line() -> None:
    assert shown("a\n<3>pqdrop: FORGED.mp4") == "a\\n<3>pqdrop: FORGED.mp4"
    assert shown("clip\x1b[31mred\r\t.mp4") == "clip\\x1b[31mred\\r\\t.mp4"
    assert shown("x\x00\x7f\x85\u2028y") == "x\\x00\\x7f\\x85\\u2028y"  # NUL, DEL, C1 NEL, a Unicode line break
    assert shown(LATIN1 + "\n.mp4") == "caf\\xe9\\n.mp4"  # bytes and controls in one name
    assert shown("Café ☕ — #fyp") == "Café ☕ — #fyp"  # printable Unicode is left alone


def test_showing_a_shown_name_again_changes_nothing() -> None:
    for name in ("a\n<3>b", LATIN1 + "\x1b", "plain", "tab\there"):
        assert shown(shown(name)) == shown(name)


def test_every_log_level_shows_names_alike_on_a_terminal_and_under_journald(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = logging.getLogger("pqdrop.test")
    for journald in (False, True):
        if journald:
            monkeypatch.setenv("JOURNAL_STREAM", "8:1234")
        else:
            monkeypatch.delenv("JOURNAL_STREAM", raising=False)
        setup_logging(verbose=True)
        log.debug("%s: debug", LATIN1)
        log.info("%s: info", LATIN1)
        log.warning("%s: warning", "a\n<3>pqdrop: FORGED")
        log.error("%s: error", "esc\x1b[2J")
        lines = capsys.readouterr().err.splitlines()
        assert len(lines) == 4, lines  # the line feed in a name started no line of its own
        assert [line.split(" ")[-1] for line in lines] == ["debug", "info", "warning", "error"]
        assert "caf\\xe9: debug" in lines[0] and "caf\\xe9: info" in lines[1]
        assert "a\\n<3>pqdrop: FORGED: warning" in lines[2] and "esc\\x1b[2J: error" in lines[3]
        if journald:
            assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>"]
    logging.getLogger().handlers.clear()
