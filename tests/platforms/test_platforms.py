"""Every platform's option table, checked the same strict way, in sidecars and account tables (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pqdrop.config import AccountConfig, DefaultsConfig
from pqdrop.errors import SidecarError
from pqdrop.platforms import PLATFORMS, TABLES, missing_options, option_problem, platform
from pqdrop.sidecar.parse import parse_sidecar_text

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DEFAULTS = DefaultsConfig(account="@mybrand", intent="publish")


def parse(frontmatter: str, accounts: dict[str, AccountConfig] | None = None) -> list[tuple[str, dict[str, object]]]:
    text = f"---\n{frontmatter}---\nA caption\n"
    sidecar = parse_sidecar_text(text, Path("clip.md"), DEFAULTS, NOW, accounts=accounts or {})
    return [(target.platform, dict(target.options)) for target in sidecar.targets]


def refusal(frontmatter: str, accounts: dict[str, AccountConfig] | None = None) -> tuple[str, str | None]:
    with pytest.raises(SidecarError) as caught:
        parse(frontmatter, accounts)
    return caught.value.message, caught.value.code


def test_the_eleven_platforms_of_postqued_v2_each_have_a_table() -> None:
    assert PLATFORMS == ("tiktok", "instagram", "facebook", "threads", "linkedin", "youtube", "twitter",
                         "pinterest", "reddit", "mastodon", "bluesky")
    assert all(TABLES[name].name == name for name in PLATFORMS)


@pytest.mark.parametrize(("name", "key", "value", "problem"), [
    ("youtube", "visibility", "hidden", '"hidden" is not one of public, unlisted, private'),
    ("youtube", "madeForKids", "yes", '"yes" is not true or false; write madeForKids: true or madeForKids: false, '
     "without quotes"),
    ("youtube", "tags", ["t"] * 31, "31 entries; at most 30 are allowed"),
    ("instagram", "postType", "Reels", '"Reels" is not one of post, reel, story; did you mean reel?'),
    ("instagram", "collaborators", ["a", "b", "c", "d"], "4 entries; at most 3 are allowed"),
    ("instagram", "crop", {"zooom": 2}, "crop.zooom is not a key of crop; did you mean zoom?"),
    ("mastodon", "visibility", "friends", '"friends" is not one of public, unlisted, private, direct'),
    ("twitter", "replySettings", "mentioned", '"mentioned" is not one of everyone, mentionedUsers, following; '
     "did you mean mentionedUsers?"),
    ("reddit", "kind", "photo", '"photo" is not one of self, link, image, video, videogif'),
    ("bluesky", "title", "x", "not an option of Bluesky, which takes no options"),
    ("threads", "replyControll", "everyone", "not an option of Threads; did you mean replyControl?"),
])
def test_a_wrong_option_names_the_allowed_values_or_the_nearest_key(
    name: str, key: str, value: object, problem: str
) -> None:
    assert option_problem(platform(name), key, value) == problem


def test_good_options_of_each_platform_pass() -> None:
    good = {
        "facebook": {"postType": "reel", "link": "https://example.com", "firstComment": "First!"},
        "linkedin": {"postType": "video", "articleTitle": "News"},
        "pinterest": {"boardId": "b1", "isStandard": True},
        "reddit": {"subreddit": "videos", "kind": "video", "nsfw": False},
        "instagram": {"firstComment": {"text": "hi"}, "trialReelGraduationStrategy": "MANUAL"},
    }
    for name, options in good.items():
        assert [option_problem(platform(name), key, value) for key, value in options.items()] == [None] * len(options)


def test_reddit_and_pinterest_demand_their_required_options() -> None:
    assert missing_options("reddit", {"title": "x"}) == ("subreddit",)
    assert missing_options("pinterest", {}) == ("boardId",)
    assert missing_options("youtube", {}) == ()


CROSS = """\
options:
  title: Shared title
targets:
  - platform: tiktok
    privacyLevel: SELF_ONLY
  - platform: youtube
    options:
      visibility: unlisted
  - platform: pinterest
    options:
      boardId: b1
"""


def test_shared_options_go_to_each_target_whose_platform_takes_them() -> None:
    assert parse(CROSS) == [
        ("tiktok", {"privacyLevel": "SELF_ONLY"}),
        ("youtube", {"title": "Shared title", "visibility": "unlisted"}),
        ("pinterest", {"title": "Shared title", "boardId": "b1"}),
    ]


def test_a_shared_option_no_platform_of_the_item_takes_names_the_nearest() -> None:
    message, code = refusal("options:\n  visibilty: public\ntargets:\n  - platform: youtube\n  - platform: tiktok\n")
    assert (message, code) == (
        "clip.md: options.visibilty: unknown key; did you mean visibility?",
        "SIDECAR_UNKNOWN_KEY")


def test_an_entrys_option_is_checked_against_its_own_platform_and_names_the_platforms_that_have_it() -> None:
    message, code = refusal("targets:\n  - platform: youtube\n    options:\n      postType: reel\n")
    assert message == ("clip.md: targets[1].options.postType: an option of Instagram, Facebook and LinkedIn, not of "
                       "YouTube; YouTube takes visibility, title, description, categoryId, tags, madeForKids, "
                       "containsSyntheticMedia, firstComment")
    assert code == "SIDECAR_UNKNOWN_KEY"


def test_a_tiktok_option_on_another_platforms_target_is_refused() -> None:
    message, _ = refusal("targets:\n  - platform: youtube\n    privacyLevel: SELF_ONLY\n")
    assert message.startswith("clip.md: targets[1].privacyLevel: an option of TikTok, not of YouTube; YouTube takes ")


def test_a_top_level_tiktok_option_on_an_item_without_tiktok_is_refused() -> None:
    message, _ = refusal("platform: youtube\nprivacyLevel: SELF_ONLY\n")
    assert message.startswith("clip.md: privacyLevel: an option of TikTok, not of YouTube; YouTube takes visibility")


def test_reddit_without_subreddit_is_refused_with_the_key_to_add() -> None:
    message, code = refusal("platform: reddit\noptions:\n  title: Hello\n")
    assert message.startswith("clip.md: options.subreddit: required for Reddit; write it under options:")
    assert code == "SIDECAR_MISSING"


def test_an_unknown_platform_names_the_nearest() -> None:
    message, _ = refusal("platform: youtub\n")
    assert message == ("clip.md: platform: \"youtub\" is not one of " + ", ".join(PLATFORMS)
                       + "; did you mean youtube?")


def test_the_same_username_on_two_platforms_is_two_targets() -> None:
    assert [name for name, _ in parse("targets:\n  - platform: tiktok\n  - platform: instagram\n")] == [
        "tiktok", "instagram"]


def test_an_accounts_table_per_platform_gives_that_platforms_targets_their_defaults() -> None:
    accounts = {"@mybrand": AccountConfig.model_validate(
        {"privacyLevel": "SELF_ONLY", "youtube": {"visibility": "private", "madeForKids": False}})}
    frontmatter = "targets:\n  - platform: tiktok\n  - platform: youtube\n    options:\n      visibility: public\n"
    assert parse(frontmatter, accounts) == [
        ("tiktok", {"privacyLevel": "SELF_ONLY"}),
        ("youtube", {"visibility": "public", "madeForKids": False}),
    ]


def test_a_wrong_option_in_an_accounts_platform_table_stops_the_config(tmp_path: Path) -> None:
    from pqdrop.config import load_config
    from pqdrop.errors import ConfigError

    path = tmp_path / "config.toml"
    path.write_text('[inbox]\npath = "inbox"\n[state]\ndir = "state"\n'
                    '[accounts."@mybrand".youtube]\nvisibilty = "public"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.message == (
        f'{path}: accounts."@mybrand".youtube.visibilty: not an option of YouTube; did you mean visibility?')


def test_the_platforms_reference_lists_every_platforms_options_as_the_tables_hold_them() -> None:
    from pqdrop.platforms import markdown_table

    page = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "platforms.md").read_text(encoding="utf-8")
    assert markdown_table() in page
