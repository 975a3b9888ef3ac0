"""What the user meant reaches PostQued (issue 22), end to end: real sidecars, `pqdrop check` and `once` against
the sandbox over HTTP; text kept as typed or refused with the fix, every problem at once, options where users
write them, v1 saying a non-TikTok target needs v2."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.conftest import SANDBOX_KEY, make_client, sidecar, write_config

from pqdrop.config import Config, load_config
from pqdrop.journal.store import Journal
from pqdrop.media.mediagen import make_video
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_FAILED, EXIT_OK, Round, Workers, once
from pqdrop.sidecar.times import example_time


@pytest.fixture(params=["v2"])
def spoken(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def server(spoken: str) -> Iterator[Sandbox]:
    with Sandbox(api_keys=(SANDBOX_KEY,), processing_seconds=0.05, api=spoken) as sandbox:
        yield sandbox


@pytest.fixture
def config(tmp_path: Path, server: Sandbox) -> Config:
    loaded = load_config(write_config(tmp_path, server.url))
    loaded.inbox.path.mkdir(exist_ok=True)
    return loaded


def run_once(config: Config) -> tuple[int, Round]:
    journal = Journal(config.state.dir)
    try:
        with make_client(config) as client, Workers(config, client, journal) as service:
            return once(service)
    finally:
        journal.close()


def check(config: Config, *paths: Path) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name not in ("PQDROP_CONFIG", "NOTIFY_SOCKET")}
    env["POSTQUED_API_KEY"] = SANDBOX_KEY
    return subprocess.run([sys.executable, "-m", "pqdrop", "check", "--config", str(config.inbox.path.parent /
                                                                                    "config.toml"),
                           *map(str, paths)], env=env, capture_output=True, text=True, timeout=60, check=False)


def drop(config: Config, name: str, frontmatter: str, body: str = "", width: int = 360) -> None:
    make_video(config.inbox.path / f"{name}.mp4", width=width, height=640, seconds=1)
    sidecar(config.inbox.path / f"{name}.md", frontmatter, body)


def filed(config: Config, folder: str, name: str) -> dict[str, Any]:
    return dict(json.loads((config.inbox.path / folder / f"{name}.status.json").read_text()))


def sent_targets(server: Sandbox) -> list[dict[str, Any]]:
    return [target for publish in server.state_summary()["publishes"] for target in publish["body"]["targets"]]


HASHTAGS_EVERYWHERE = """targets:
  - platform: tiktok
    caption: "Dance #fyp #viral"
  - platform: youtube
    title: "Trip #shorts"
    options:
      description: 'Filmed on the coast #travel'
      tags: ["#one", "two"]
  - platform: instagram
    firstComment: "More below #instagood"
  - platform: facebook
    firstComment:
      text: "#throwback"
"""


def test_hashtags_in_every_text_key_reach_postqued_exactly_as_typed(config: Config, server: Sandbox) -> None:
    drop(config, "clip", HASHTAGS_EVERYWHERE, "Everywhere #fyp #viral")
    assert check(config).stdout.splitlines()[0] == "ok    clip"
    code, _ = run_once(config)
    assert code == EXIT_OK, filed(config, "failed", "clip")
    assert [(target["platform"], target["caption"], target["options"]) for target in sent_targets(server)] == [
        ("tiktok", "Dance #fyp #viral", {}),
        ("youtube", "Everywhere #fyp #viral", {"title": "Trip #shorts", "description": "Filmed on the coast #travel",
                                               "tags": ["#one", "two"]}),
        ("instagram", "Everywhere #fyp #viral", {"firstComment": "More below #instagood"}),
        ("facebook", "Everywhere #fyp #viral", {"firstComment": {"text": "#throwback"}}),
    ]


@pytest.mark.parametrize(("frontmatter", "key", "fix"), [
    ("caption: New video #fyp #viral\n", "caption", 'quote the whole text: caption: "New video #fyp #viral", or '
                                                    "put the caption below the closing ---"),
    ('targets:\n  - platform: tiktok\n    caption: Dance #fyp\n', "targets[1].caption",
     'quote the whole text: caption: "Dance #fyp"'),
    ("platform: youtube\ncaption: x\ntitle: Trip #shorts\n", "title", 'quote the whole text: title: "Trip #shorts"'),
    ("platform: instagram\ncaption: x\nfirstComment: more #fyp\n", "firstComment",
     'quote the whole text: firstComment: "more #fyp"'),
    ("platform: youtube\ncaption: x\noptions:\n  description: Coast #travel\n", "options.description",
     'quote the whole text: description: "Coast #travel"'),
])
def test_hashtags_yaml_would_drop_refuse_the_item_in_check_and_once_with_the_fix_and_post_nothing(
    config: Config, server: Sandbox, frontmatter: str, key: str, fix: str
) -> None:
    drop(config, "clip", frontmatter)
    said = check(config)
    assert said.returncode == 1
    assert said.stdout.splitlines()[0].startswith(f"FAIL  clip: clip.md: {key}: YAML reads ")
    assert fix in said.stdout
    assert run_once(config)[0] == EXIT_FAILED
    error = filed(config, "failed", "clip")["error"]
    assert error["code"] == "SIDECAR_TEXT"
    assert error["message"].startswith(f"clip.md: {key}: YAML reads ") and error["message"].endswith(fix)
    assert server.state_summary()["contents"] == {} and sent_targets(server) == []


def test_values_yaml_reads_as_numbers_dates_and_booleans_are_posted_as_typed(config: Config,
                                                                               server: Sandbox) -> None:
    drop(config, "numbers", "targets:\n  - platform: youtube\n    caption: 3.10\n    title: 1984\n"
                            "    categoryId: 22\n  - platform: facebook\n    caption: 2026-12-24\n    title: yes\n",
         width=360)
    drop(config, "words", "caption: no\n", width=368)
    code, _ = run_once(config)
    assert code == EXIT_OK
    assert sorted((target["platform"], target["caption"], json.dumps(target["options"], sort_keys=True))
                  for target in sent_targets(server)) == [
        ("facebook", "2026-12-24", '{"title": "yes"}'),
        ("tiktok", "no", "{}"),
        ("youtube", "3.10", '{"categoryId": "22", "title": "1984"}'),
    ]


@pytest.mark.parametrize("value", ["~", "null", ""])
def test_a_null_caption_is_refused_in_check_and_once_never_posted_empty(config: Config, server: Sandbox,
                                                                        value: str) -> None:
    drop(config, "clip", f"caption: {value}\n")
    said = check(config)
    assert said.returncode == 1 and said.stdout.startswith("FAIL  clip: clip.md: caption: ")
    assert run_once(config)[0] == EXIT_FAILED
    message = filed(config, "failed", "clip")["error"]["message"]
    assert message.endswith("or leave the key out")
    assert sent_targets(server) == []


BERLIN = ZoneInfo("Europe/Berlin")
THREE_TYPOS = 'privacyLvel: SELF_ONLY\nintent: pubish\ndispatchAt: "tomorrow"\n'
THREE_PROBLEMS = [
    "privacyLvel: unknown key; did you mean privacyLevel?",
    'intent: "pubish" is not one of draft, publish; did you mean publish?',
    # The example is tomorrow at 18:00 in the config's zone (Europe/Berlin), as the run sees the clock.
    f'dispatchAt: "tomorrow" is not a date-time; write e.g. {example_time("tomorrow", BERLIN, datetime.now(UTC))}',
]


def test_a_three_typo_sidecar_gets_all_three_in_one_check_one_status_file_and_one_log_line(
    config: Config, server: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    drop(config, "clip", THREE_TYPOS, "Hello #fyp")
    said = check(config)
    assert said.returncode == 1
    assert said.stdout.splitlines() == [
        "FAIL  clip: clip.md: 3 problems:", *(f"      - {problem}" for problem in THREE_PROBLEMS),
        "1 checked, 1 with problems"]
    assert run_once(config)[0] == EXIT_FAILED
    status = filed(config, "failed", "clip")
    assert status["error"]["code"] == "SIDECAR_PROBLEMS"
    assert status["error"]["message"] == "clip.md: 3 problems: " + " ".join(
        f"({number}) {problem}" for number, problem in enumerate(THREE_PROBLEMS, start=1))
    assert status["problems"] == [
        {"code": "SIDECAR_UNKNOWN_KEY", "message": THREE_PROBLEMS[0]},
        {"code": "SIDECAR_VALUE", "message": THREE_PROBLEMS[1]},
        {"code": "SIDECAR_VALUE", "message": THREE_PROBLEMS[2]},
    ]
    log = [json.loads(line) for line in (config.inbox.path / "status.log").read_text().splitlines()]
    assert [line["problems"] for line in log if line["state"] == "failed"] == [status["problems"]]
    [said_in_log] = [record.getMessage() for record in caplog.records if record.levelno == logging.ERROR]
    assert said_in_log == f"clip: failed: {status['error']['message']}"
    assert server.state_summary()["contents"] == {}


FLAT = """targets:
  - platform: instagram
    postType: reel
    collaborators: "@friend"
  - platform: youtube
    visibility: unlisted
    title: "Trip"
    madeForKids: false
  - platform: mastodon
    visibility: unlisted
    spoilerText: "Spoilers"
"""


def test_flat_options_of_three_platforms_reach_postqued_as_written(config: Config, server: Sandbox) -> None:
    drop(config, "clip", FLAT, "Look #fyp")
    assert check(config).returncode == 0
    assert run_once(config)[0] == EXIT_OK
    assert [(target["platform"], target["options"]) for target in sent_targets(server)] == [
        ("instagram", {"postType": "reel", "collaborators": ["@friend"]}),
        ("youtube", {"visibility": "unlisted", "title": "Trip", "madeForKids": False}),
        ("mastodon", {"visibility": "unlisted", "spoilerText": "Spoilers"}),
    ]


def test_an_option_of_another_platform_is_named_with_the_platforms_that_have_it(config: Config) -> None:
    drop(config, "clip", "targets:\n  - platform: youtube\n    postType: reel\n", "Look #fyp")
    said = check(config)
    assert said.stdout.splitlines()[0] == (
        "FAIL  clip: clip.md: targets[1].postType: an option of Instagram, Facebook and LinkedIn, not of YouTube; "
        "YouTube takes visibility, title, description, categoryId, tags, madeForKids, containsSyntheticMedia, "
        "firstComment")


@pytest.mark.parametrize("spoken", ["v1"])
def test_with_v1_a_youtube_target_is_told_it_needs_v2_not_that_its_account_is_tiktoks(
    config: Config, server: Sandbox
) -> None:
    drop(config, "clip", "targets:\n  - platform: tiktok\n  - platform: youtube\n    visibility: public\n",
         "Look #fyp")
    needs = ('clip.md: targets[2].platform: YouTube needs PostQued\'s v2 API, and v1 posts to TikTok only; set '
             'api = "v2" under [postqued] in the config')
    said = check(config)
    assert said.returncode == 1 and said.stdout.splitlines()[0] == f"FAIL  clip: {needs}"
    assert run_once(config)[0] == EXIT_FAILED
    assert filed(config, "failed", "clip")["error"] == {"code": "NEEDS_V2", "message": needs}
    assert server.state_summary()["contents"] == {}


@pytest.mark.parametrize("spoken", ["v1"])
def test_under_auto_a_v1_only_postqued_tells_a_youtube_target_the_same(tmp_path: Path, server: Sandbox) -> None:
    config = load_config(write_config(tmp_path, server.url, postqued={"api": "auto"}))
    config.inbox.path.mkdir(exist_ok=True)
    drop(config, "clip", "platform: youtube\n", "Look #fyp")
    assert run_once(config)[0] == EXIT_FAILED
    assert filed(config, "failed", "clip")["error"]["message"] == (
        "clip.md: platform: YouTube needs PostQued's v2 API, and v1 posts to TikTok only; this PostQued answered "
        'in v1 only ([postqued].api = "auto"); set api = "v2" under [postqued] once it offers v2, or post this '
        "item to TikTok only")


def test_check_lists_every_problem_of_an_item_whose_name_looks_like_a_list_number(config: Config) -> None:
    drop(config, "take (1) two", THREE_TYPOS, "Hello #fyp")
    assert check(config).stdout.splitlines()[:4] == [
        "FAIL  take (1) two: take (1) two.md: 3 problems:", *(f"      - {problem}" for problem in THREE_PROBLEMS)]
