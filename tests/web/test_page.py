"""The status page as pure HTML from `pqdrop status --json`'s document: escaped, grouped, linked, script-free."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

from pqdrop.commands.status import (
    CanceledRow,
    FailedRow,
    InFlightRow,
    Overview,
    Pause,
    ScheduledRow,
    SentRow,
    WaitingRow,
    status_document,
)
from pqdrop.web.page import render_page

NOW = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)
EVIL = '<script>alert("x")</script>.mp4'


@dataclass(frozen=True)
class Upload:
    name: str
    sent: int
    total: int
    bytes_per_second: float | None

    @property
    def percent(self) -> int:
        return 100 * self.sent // self.total

    @property
    def seconds_left(self) -> float | None:
        return (self.total - self.sent) / self.bytes_per_second if self.bytes_per_second else None


class Rows(HTMLParser):
    """Each section's rows as the text of their `.name` span; every tag and attribute seen."""

    def __init__(self) -> None:
        super().__init__()
        self.section = ""
        self.rows: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self.links: list[str] = []
        self.days: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if tag == "section":
            self.section = found.get("id") or ""
        elif tag == "span" and found.get("class") == "name":
            self._in = "name"
            self.rows.setdefault(self.section, []).append("")
        elif tag == "h3":
            self._in = "day"
            self.days.append("")
        elif tag == "a":
            self.links.append(found.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("span", "h3"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "name":
            self.rows[self.section][-1] += data
        elif self._in == "day":
            self.days[-1] += data


def page_of(view: Overview, uploads: list[Upload] | None = None, problems: tuple[str, ...] = ()) -> Rows:
    rows = Rows()
    rows.feed(render_page(status_document(view), uploads or [], problems, NOW))
    return rows


def overview(**fields: object) -> Overview:
    return Overview(inbox=Path("/srv/inbox"), now=NOW, zone=ZoneInfo("Europe/Berlin"), running={"me": 42},
                    **fields)  # type: ignore[arg-type]


def test_every_section_lists_its_rows_by_name_and_a_script_in_a_name_is_only_text() -> None:
    page = page_of(overview(
        waiting=[WaitingRow(EVIL, "still arriving")],
        in_flight=[InFlightRow("clip", "uploading", NOW, 0, None)],
        sent=[SentRow("done", "published", "p1", ("https://www.tiktok.com/@me/video/1",))],
        failed=[FailedRow("bad", "SIDECAR", "privacyLevel: unknown value")],
    ))
    assert page.rows == {"waiting": [EVIL], "in-flight": ["clip"], "sent": ["done"], "failed": ["bad"]}
    assert "script" not in page.tags
    assert page.links == ["https://www.tiktok.com/@me/video/1"]


def test_a_link_is_made_only_of_an_http_url() -> None:
    page = page_of(overview(sent=[SentRow("x", "published", "p1", ("javascript:alert(1)", "https://ok.example/v"))]))
    assert page.links == ["https://ok.example/v"]


def test_scheduled_posts_are_grouped_by_their_day_in_the_configured_zone() -> None:
    evening = datetime(2026, 12, 1, 22, 30, tzinfo=UTC)  # 23:30 in Berlin, still the 1st
    late = datetime(2026, 12, 1, 23, 30, tzinfo=UTC)  # 00:30 on the 2nd in Berlin
    page = page_of(overview(scheduled=[
        ScheduledRow("a", ("@me",), (evening,), "p1"), ScheduledRow("b", ("@me",), (late,), "p2"),
        ScheduledRow("c", ("@me",), (), None),
    ]))
    assert page.days == ["Tue 01 Dec 2026", "Wed 02 Dec 2026", "not confirmed yet"]
    assert page.rows["scheduled"] == ["a", "b", "c"]


def test_an_upload_in_flight_shows_its_progress_rate_and_time_left() -> None:
    html = render_page(status_document(overview(in_flight=[InFlightRow("big", "uploading", NOW, 0, None)])),
                       [Upload("big", 25_000_000, 100_000_000, 5_000_000.0)], (), NOW)
    assert '<progress max="100" value="25">' in html
    assert "uploading 25 % · 25.0 of 100.0 MB · 5.0 MB/s · 15 s left" in html


def test_an_upload_named_by_its_media_file_shows_on_its_items_row() -> None:
    from pqdrop.service.systemd import Upload as Uploading

    row = InFlightRow("big", "uploading", NOW, 0, None, media=("big.mp4",))
    uploading = [Uploading("big.mp4", 50_000_000, 100_000_000, None)]
    document = status_document(overview(in_flight=[row], uploads=uploading))
    html = render_page(document, [], (), NOW)
    assert '<progress max="100" value="50">' in html
    assert "uploading 50 % · 50.0 of 100.0 MB" in html


def test_the_page_reads_on_a_phone_refreshes_itself_and_says_health_and_pause() -> None:
    html = render_page(status_document(overview(paused=Pause("key refused (UNAUTHORIZED)", NOW))), [],
                       ["the loop has not come round for 75 s"], NOW)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert '<meta http-equiv="refresh" content="30">' in html
    assert "unhealthy: the loop has not come round for 75 s" in html
    assert "Posting paused</strong> since 2026-11-28 18:30:00 CET: key refused (UNAUTHORIZED)" in html
    assert "as of 2026-11-28 18:30:00 CET" in html


def test_canceled_items_and_in_flight_times_read_in_the_configured_zone() -> None:
    page = page_of(overview(canceled=[CanceledRow("dropped", "p9", NOW)],
                            in_flight=[InFlightRow("clip", "uploading", NOW, 0, None)]))
    assert page.rows["canceled"] == ["dropped"]
    html = render_page(status_document(overview(canceled=[CanceledRow("dropped", "p9", NOW)],
                                                in_flight=[InFlightRow("clip", "uploading", NOW, 0, None)])),
                       [], (), NOW)
    assert "canceled 2026-11-28 18:30:00 CET · publish p9" in html
    assert "uploading since 2026-11-28 18:30:00 CET" in html
