"""SCHEDULE.md: the schedule by local day, for a phone (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from markdown_it import MarkdownIt
from tests.conftest import sidecar

from pqdrop.inbox.items import Rules, plan_items, scan_entries
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.schedule.agenda import HOW_TO_EDIT, Entry, as_text, is_agenda, read_own, render
from pqdrop.service.workers import EXIT_OK, Workers, once

BERLIN = ZoneInfo("Europe/Berlin")


def test_the_schedule_across_the_spring_dst_change_keeps_local_times_and_days() -> None:
    # Berlin moves its clocks from 02:00 CET to 03:00 CEST in the night to Sunday 29 March 2026.
    entries = [
        Entry(datetime(2026, 3, 29, 7, 0, tzinfo=UTC), "sunday-teaser", ("@mybrand (tiktok)",)),
        Entry(datetime(2026, 3, 28, 8, 0, tzinfo=UTC), "saturday-clip", ("@mybrand (tiktok)",)),
        Entry(datetime(2026, 3, 28, 23, 30, tzinfo=UTC), "night-owl", ("@mybrand (tiktok)", "@otherbrand (tiktok)"),
              "replacing"),
        Entry(datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "after-the-jump", ("@otherbrand (tiktok)",),
              "held by a conflict (after-the-jump (conflicted copy).md)"),
        Entry(None, "right-now", ("@mybrand (tiktok)",), "replacing"),
    ]
    assert render(entries, BERLIN) == "\n".join([
        "# Schedule",
        "",
        "What is coming, by day in Europe/Berlin.",
        "",
        HOW_TO_EDIT,
        "",
        "## Going out now",
        "",
        "- **now** · right-now · @mybrand (tiktok) · replacing",
        "",
        "## Saturday 28 March 2026",
        "",
        "- **09:00 CET** · saturday-clip · @mybrand (tiktok) · scheduled",
        "",
        "## Sunday 29 March 2026",
        "",
        "- **00:30 CET** · night-owl · @mybrand (tiktok), @otherbrand (tiktok) · replacing",
        "- **03:30 CEST** · after-the-jump · @otherbrand (tiktok) · "
        "held by a conflict (after-the-jump (conflicted copy).md)",
        "- **09:00 CEST** · sunday-teaser · @mybrand (tiktok) · scheduled",
        "",
    ])


def test_the_autumn_change_shows_the_repeated_hour_twice_with_its_zone() -> None:
    entries = [Entry(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "first", ("@mybrand (tiktok)",)),
               Entry(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "second", ("@mybrand (tiktok)",))]
    lines = render(entries, BERLIN).splitlines()
    assert lines[-2:] == ["- **02:30 CEST** · first · @mybrand (tiktok) · scheduled",
                            "- **02:30 CET** · second · @mybrand (tiktok) · scheduled"]
    assert "## Sunday 25 October 2026" in lines


def test_an_empty_schedule_says_so() -> None:
    assert render([], BERLIN).splitlines()[-1] == "Nothing is scheduled."


def test_schedule_md_follows_the_journal_and_is_written_only_when_it_changes(
    service: Workers, inbox: Path, sandbox: Sandbox
) -> None:
    assert once(service)[0] == EXIT_OK
    assert not (inbox / "SCHEDULE.md").exists()  # an inbox that never scheduled a post gets none
    make_video(inbox / "later.mp4", seconds=1)
    sidecar(inbox / "later.md", "dispatchAt: 2030-06-01T18:00:00\n")
    assert once(service)[0] == EXIT_OK
    text = (inbox / "SCHEDULE.md").read_text()
    assert "## Saturday 1 June 2030\n\n- **18:00 CEST** · later · @mybrand (tiktok) · scheduled\n" in text
    before = (inbox / "SCHEDULE.md").stat().st_mtime_ns
    assert service.write_agenda() is False
    assert (inbox / "SCHEDULE.md").stat().st_mtime_ns == before
    entries = scan_entries(inbox)
    assert [item.name for item in plan_items(entries, 1e12, Rules(settle_seconds=0)).ready] == []
    assert [waiting.name for waiting in plan_items(entries, 1e12, Rules(settle_seconds=0)).waiting] == []


def test_pqdrops_own_schedule_is_told_from_a_users_file_of_that_name(tmp_path: Path) -> None:
    zone = ZoneInfo("Europe/Berlin")
    ours = render([Entry(datetime(2026, 12, 5, 17, 0, tzinfo=UTC), "launch", ("@mybrand",))], zone)
    assert is_agenda(ours) and is_agenda(render([], zone))
    assert not is_agenda("---\ncaption: my video\n---\n# Schedule\n")
    assert not is_agenda("# Schedule\n\nMy own plan for the week\n")
    (tmp_path / "SCHEDULE.md").write_text(ours)
    assert read_own(tmp_path / "SCHEDULE.md") == (ours, None)
    (tmp_path / "SCHEDULE.md").write_text("# Schedule\n\nMy own plan\n")
    text, problem = read_own(tmp_path / "SCHEDULE.md")
    assert text is None and problem is not None
    assert problem.startswith(f"SCHEDULE.md in {tmp_path} is a file pqdrop did not write")
    assert read_own(tmp_path / "nothing.md") == (None, None)


# --- names a stranger chose (issue 21) ---------------------------------------------------------------

HOSTILE = ["[click](http://evil)", "<img src=x onerror=alert(1)>", "![pic](http://evil/a.png)", "**urgent**",
           "see evil.com", "https://evil.example/login", "| a | b |", "&lt;b&gt;", "# Heading", "`code`",
           "a\\[not a link](x)", "~~gone~~", "_under_"]


@pytest.mark.parametrize("name", HOSTILE)
def test_a_name_with_markdown_or_html_shows_as_text_on_a_phone(name: str) -> None:
    # GFM as a phone's Markdown viewer reads it, autolinks (linkify) included.
    html = MarkdownIt("gfm-like").render(render([Entry(None, name, ("@mybrand (tiktok)",))], BERLIN))
    [line] = [line for line in html.splitlines() if "<strong>now</strong>" in line]
    assert not any(tag in line for tag in ("<a ", "<img", "<em>", "<code>", "<s>", "<table", "<h1"))
    escaped = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert f"<strong>now</strong> · {escaped} · @mybrand (tiktok) · scheduled</li>" in line


def test_plain_names_stay_as_they_are_in_the_file() -> None:
    assert [as_text(name) for name in ("later", "clip-01", "caf\udce9", "@mybrand (tiktok)")] == [
        "later", "clip-01", "caf\\xe9", "@mybrand (tiktok)"]
