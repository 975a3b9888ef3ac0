"""The status page in a real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

The page a phone shows must hold the same rows as `pqdrop status --json`, show a name holding `<script>`
as text (nothing runs), and fit a phone's width. A screenshot lands in the test's tmp_path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from tests.conftest import Observed, sidecar, wait_until

from pqdrop.media.mediagen import make_video

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
EVIL = '<script>document.title="pwned"</script>'.replace("/", "∕")  # a file name holds no slash
PHONE = (390, 844)  # CSS pixels of a common phone
SECTIONS = {"waiting": "waiting", "in-flight": "inFlight", "scheduled": "scheduled", "sent": "recentlySent",
            "failed": "failed", "canceled": "canceled"}


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), (
        "the status page test needs Debian's chromium and chromium-driver: `make browser` installs them "
        "(apt-get install chromium chromium-driver, as root)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}",
                 f"--window-size={PHONE[0]},{PHONE[1]}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_status_page_in_chromium_shows_the_rows_of_status_json_and_a_script_name_as_text(
    observe: Callable[..., Observed], inbox: Path, browser: webdriver.Chrome, tmp_path: Path,
) -> None:
    daemon = observe()
    later = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for seconds, (name, frontmatter) in enumerate((("posted", ""), ("broken", "privacyLevel: EVERYONE\n"),
                                                   ("later", f"dispatchAt: {later}\n")), start=1):
        sidecar(inbox / f"{name}.md", frontmatter)
        make_video(inbox / f"{name}.mp4", seconds=seconds)  # three different clips: the same twice is a repost
    make_video(inbox / f"{EVIL}.mp4")  # no sidecar: it waits for one, with its name on the page
    wait_until(lambda: all((inbox / folder / f"{name}.status.json").exists()
                           for name, folder in (("posted", "sent"), ("broken", "failed"), ("later", "scheduled"))), 60)

    browser.get(daemon.url + "/")
    rows = {section: [element.text for element in browser.find_elements(By.CSS_SELECTOR, f"#{section} li.row .name")]
            for section in SECTIONS}
    screenshot = tmp_path / "status-page.png"
    assert browser.save_screenshot(str(screenshot))
    print(f"status page screenshot: {screenshot}")

    printed = daemon.pqdrop("status", "--json")
    assert printed.returncode == 0, printed.stderr
    document = json.loads(printed.stdout)
    assert rows == {section: [row["name"] for row in document[key]] for section, key in SECTIONS.items()}
    assert rows["waiting"] == [EVIL]
    assert rows["sent"] == ["posted"] and rows["failed"] == ["broken"] and rows["scheduled"] == ["later"]
    assert not browser.title.startswith("pwned")  # nothing ran
    assert browser.title == "pqdrop: 1 waiting, 0 in flight, 1 scheduled, 1 failed"
    failed = browser.find_element(By.CSS_SELECTOR, "#failed li.row").text
    assert 'privacyLevel: "EVERYONE" is not one of PUBLIC_TO_EVERYONE' in failed
    day = browser.find_element(By.CSS_SELECTOR, "#scheduled h3").text
    assert day == datetime.fromisoformat(document["scheduled"][0]["dispatchAtLocal"][0]).strftime("%a %d %b %Y")
    # One column that fits a phone: nothing wider than the screen, so nothing scrolls sideways.
    width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1]
