"""Text is posted as typed (issue 22): every text value a sidecar holds is kept as written, or refused with the fix
where YAML would silently change it; a sidecar's problems come all at once; options stand where users write them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pqdrop.config import DefaultsConfig
from pqdrop.errors import Problem, SidecarError
from pqdrop.sidecar.parse import Sidecar, Target, parse_sidecar_text

DEFAULTS = DefaultsConfig(account="@mybrand", intent="draft", timezone="Europe/Berlin")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
COMMENT_FIX = 'as a comment and would drop it from the text; quote the whole text: '


def parse(frontmatter: str, body: str = "") -> Sidecar:
    return parse_sidecar_text(f"---\n{frontmatter}\n---\n{body}", Path("inbox/clip.md"), DEFAULTS, NOW)


def only(frontmatter: str, body: str = "") -> Target:
    (target,) = parse(frontmatter, body).targets
    return target


def refused(frontmatter: str, body: str = "") -> SidecarError:
    with pytest.raises(SidecarError) as info:
        parse(frontmatter, body)
    return info.value


# --- a ` #` YAML would read as a comment ------------------------------------------------------------


def test_hashtags_after_an_unquoted_caption_are_refused_with_the_line_to_write_instead() -> None:
    error = refused("caption: New video #fyp #viral")
    assert error.code == "SIDECAR_TEXT"
    assert error.message == (
        'clip.md: caption: YAML reads "#fyp #viral" on line 2 as a comment and would drop it from the text; '
        'quote the whole text: caption: "New video #fyp #viral", or put the caption below the closing ---')


def test_a_caption_of_hashtags_only_is_refused_not_read_as_empty() -> None:
    error = refused("caption: #fyp #viral")
    assert error.message == (f'clip.md: caption: YAML reads "#fyp #viral" on line 2 {COMMENT_FIX}'
                             'caption: "#fyp #viral", or put the caption below the closing ---')


def test_hashtags_after_a_quoted_caption_are_refused() -> None:
    error = refused('account: "@mybrand"\ncaption: "New video" #fyp')
    assert error.message == (
        'clip.md: caption: YAML reads "#fyp" on line 3 as a comment and would drop it from the text; put it inside '
        "the quotes if it belongs to the text, or move the comment onto a line of its own")


def test_hashtags_on_an_indented_line_below_the_caption_are_refused() -> None:
    error = refused("caption: New video\n  #fyp #viral\nintent: publish")
    assert error.message.startswith(f'clip.md: caption: YAML reads "#fyp #viral" on line 2 {COMMENT_FIX}'
                                    'caption: "New video #fyp #viral"')


@pytest.mark.parametrize(("frontmatter", "key", "line"), [
    ('targets:\n  - account: "@a"\n    caption: Hello #fyp\n  - account: "@b"', "targets[1].caption", 4),
    ("platform: youtube\ntitle: Trip #shorts", "title", 3),
    ("platform: instagram\nfirstComment: more #fyp", "firstComment", 3),
    ("platform: youtube\noptions:\n  description: Watch #travel", "options.description", 4),
    ("platform: reddit\noptions:\n  subreddit: pics\n  title: Look #nice", "options.title", 5),
    ("platform: instagram\nfirstComment:\n  text: hi #fyp", "firstComment.text", 4),
])
def test_hashtags_after_any_text_key_are_refused_naming_the_key_and_line(frontmatter: str, key: str,
                                                                         line: int) -> None:
    error = refused(frontmatter, "A caption")
    assert f"clip.md: {key}: YAML reads " in error.message
    assert f" on line {line} as a comment" in error.message
    assert "quote the whole text: " in error.message
    assert "below the closing ---" not in error.message  # only the item's caption has a body to go to


def test_comments_on_their_own_lines_and_after_settings_are_comments() -> None:
    got = only("# posted on Friday\nprivacyLevel: SELF_ONLY  # private first\ndisableDuet: true # no duets",
               "Hello #fyp")
    assert (got.caption, dict(got.options)) == ("Hello #fyp", {"privacyLevel": "SELF_ONLY", "disableDuet": True})


def test_hashtags_in_quotes_and_below_the_fences_are_posted_as_typed() -> None:
    assert only('caption: "New video #fyp #viral"').caption == "New video #fyp #viral"
    assert only("caption: 'New video #fyp'").caption == "New video #fyp"
    assert only("intent: publish", "New video #fyp #viral").caption == "New video #fyp #viral"
    assert only("caption: New video#fyp").caption == "New video#fyp"  # no space: YAML keeps it
    assert only("caption: |\n  Line one #fyp\n  Line two").caption == "Line one #fyp\nLine two"


# --- numbers, dates, booleans, null ---------------------------------------------------------------


@pytest.mark.parametrize("typed", ["1984", "3.10", "1_000", "0x1F", "1e3", ".inf", "2026-12-24", "18:00", "yes",
                                   "no", "on", "off", "true", "False", "NO"])
def test_a_caption_yaml_would_read_as_a_number_date_or_boolean_is_kept_as_typed(typed: str) -> None:
    assert only(f"caption: {typed}").caption == typed


def test_text_options_keep_numbers_as_typed() -> None:
    youtube = only("platform: youtube\ntitle: 1984\ncategoryId: 22\ntags: [2026, 3.10, yes]", "A caption")
    assert dict(youtube.options) == {"title": "1984", "categoryId": "22", "tags": ["2026", "3.10", "yes"]}
    pinterest = only("platform: pinterest\nboardId: 0012345", "A caption")
    assert dict(pinterest.options) == {"boardId": "0012345"}  # an id with its leading zeros
    targets = parse('targets:\n  - account: "@a"\n    caption: 2026-12-24\n  - account: "@b"', "Body").targets
    assert [target.caption for target in targets] == ["2026-12-24", "Body"]


def test_settings_that_are_not_text_keep_their_yaml_types() -> None:
    got = only("videoCoverTimestampMs: 1500\ndisableDuet: yes\nphotoCoverIndex: 0", "x")
    assert dict(got.options) == {"videoCoverTimestampMs": 1500, "disableDuet": True, "photoCoverIndex": 0}


@pytest.mark.parametrize("word", ["~", "null", "Null", "NULL"])
def test_yamls_words_for_nothing_in_a_text_key_are_refused(word: str) -> None:
    error = refused(f"caption: {word}")
    assert error.message == (f'clip.md: caption: {word} is YAML\'s word for no value, not text; write caption: '
                             f'"{word}" if you mean it, or leave the key out')


def test_an_empty_text_key_is_refused_with_where_the_text_goes() -> None:
    assert refused("caption:").message == (
        "clip.md: caption: is empty; write the text after the colon, in quotes when it holds a # or a colon, or put "
        "the caption below the closing ---, or leave the key out")
    assert refused("platform: youtube\ntitle:", "x").message.startswith("clip.md: title: is empty; write the text")


def test_a_caption_over_several_unquoted_lines_is_refused_since_yaml_joins_them() -> None:
    error = refused("caption: Line one\n  line two\nintent: publish")
    assert error.message == (
        "clip.md: caption: runs over lines 2-3, and YAML would join them into one line; write caption: | with the "
        "text indented below it, or put the caption below the closing --- (where line breaks are kept)")


# --- every problem at once ----------------------------------------------------------------------


def test_a_sidecar_with_three_typos_gets_all_three_at_once() -> None:
    error = refused('privacyLvel: SELF_ONLY\nintent: pubish\ndispatchAt: "tomorrow"', "x")
    assert error.code == "SIDECAR_PROBLEMS"
    assert error.problems == (
        Problem("SIDECAR_UNKNOWN_KEY", "privacyLvel: unknown key; did you mean privacyLevel?"),
        Problem("SIDECAR_VALUE", 'intent: "pubish" is not one of draft, publish; did you mean publish?'),
        Problem("SIDECAR_VALUE", 'dispatchAt: "tomorrow" is not a date-time; write e.g. 2026-01-16T18:00'),
    )
    assert error.message == (
        "clip.md: 3 problems: (1) privacyLvel: unknown key; did you mean privacyLevel? "
        '(2) intent: "pubish" is not one of draft, publish; did you mean publish? '
        '(3) dispatchAt: "tomorrow" is not a date-time; write e.g. 2026-01-16T18:00')


def test_problems_of_every_target_and_of_text_come_together() -> None:
    error = refused(
        "caption: Hi #fyp\ntargets:\n  - platform: reddit\n    options:\n      titel: Hello\n"
        "  - platform: youtub\n  - platform: tiktok\n    repost: true\n    disableDuet: maybe")
    assert [problem.message.split(":")[0] for problem in error.problems] == [  # in the file's order
        "caption", "targets[1].options.titel", "targets[1].options.subreddit", "targets[2].platform",
        "targets[3].repost", "targets[3].disableDuet"]
    assert error.problems[1].message == "targets[1].options.titel: unknown key; did you mean title?"
    assert error.problems[2].code == "SIDECAR_MISSING"


def test_a_shared_top_level_problem_is_named_once_not_per_target() -> None:
    error = refused('intent: pubish\ntargets:\n  - account: "@a"\n  - account: "@b"', "x")
    assert error.problems == ()  # one problem: the one-line message as before
    assert error.message == 'clip.md: intent: "pubish" is not one of draft, publish; did you mean publish?'


# --- options where users write them -------------------------------------------------------------


def test_a_platforms_options_may_stand_flat_in_its_target() -> None:
    sidecar = parse(
        "targets:\n  - platform: instagram\n    postType: reel\n    collaborators: \"@friend\"\n"
        "  - platform: youtube\n    visibility: unlisted\n    title: \"Trip #shorts\"\n"
        "  - platform: reddit\n    subreddit: travel\n    nsfw: false\n", "Body")
    assert [(target.platform, dict(target.options)) for target in sidecar.targets] == [
        ("instagram", {"postType": "reel", "collaborators": ["@friend"]}),
        ("youtube", {"visibility": "unlisted", "title": "Trip #shorts"}),
        ("reddit", {"subreddit": "travel", "nsfw": False}),
    ]


def test_a_single_platforms_options_may_stand_flat_at_the_top() -> None:
    got = only("platform: pinterest\nboardId: b1\naltText: A view", "Body")
    assert (got.platform, dict(got.options)) == ("pinterest", {"boardId": "b1", "altText": "A view"})


def test_flat_options_at_the_top_go_to_the_targets_whose_platform_has_them() -> None:
    sidecar = parse("title: Shared\nprivacyLevel: SELF_ONLY\ntargets:\n  - platform: youtube\n"
                    "  - platform: tiktok\n  - platform: facebook\n", "Body")
    assert [dict(target.options) for target in sidecar.targets] == [
        {"title": "Shared"}, {"privacyLevel": "SELF_ONLY"}, {"title": "Shared"}]


def test_an_option_of_another_platform_names_the_platforms_that_have_it() -> None:
    error = refused("targets:\n  - platform: youtube\n    postType: reel", "x")
    assert error.message == (
        "clip.md: targets[1].postType: an option of Instagram, Facebook and LinkedIn, not of YouTube; YouTube takes "
        "visibility, title, description, categoryId, tags, madeForKids, containsSyntheticMedia, firstComment")
    assert error.code == "SIDECAR_UNKNOWN_KEY"
    top = refused("platform: bluesky\nsubreddit: pics", "x")
    assert top.message == ("clip.md: subreddit: an option of Reddit, not of Bluesky; Bluesky takes no options")


def test_an_option_given_flat_and_under_options_in_one_target_is_refused() -> None:
    error = refused("targets:\n  - platform: youtube\n    title: A\n    options:\n      title: B", "x")
    assert error.message == "clip.md: targets[1].title: given both in the target and under options:; keep one"


def test_hashtags_after_a_list_or_a_table_written_on_one_line_are_refused() -> None:
    for frontmatter, key in (("platform: youtube\ntags: [travel, food] #fyp", "tags[2]"),
                             ("platform: instagram\nfirstComment: {text: more} #fyp", "firstComment.text")):
        error = refused(frontmatter, "x")
        assert error.message == (
            f'clip.md: {key}: YAML reads "#fyp" on line 3 as a comment and would drop it from the text; put it inside '
            "the brackets, in quotes, if it belongs to the text, or move the comment onto a line of its own")
    assert dict(only('platform: youtube\ntags: [travel, "#food"]', "x").options) == {"tags": ["travel", "#food"]}


def test_a_sidecar_whose_name_holds_a_colon_still_gets_every_problem() -> None:
    text = "---\ncaption: Hi #fyp\nintent: pubish\nprivacyLvel: SELF_ONLY\n---\n"
    with pytest.raises(SidecarError) as info:
        parse_sidecar_text(text, Path("inbox/a: b (1) c.md"), DEFAULTS, NOW)
    assert [problem.message.split(":")[0] for problem in info.value.problems] == ["caption", "intent", "privacyLvel"]
    assert info.value.message.startswith("a: b (1) c.md: 3 problems: (1) caption: YAML reads ")


def test_a_quoted_caption_over_several_lines_is_refused_too_since_yaml_folds_them() -> None:
    for quote in ('"', "'"):
        error = refused(f"caption: {quote}Line one\n  line two{quote}")
        assert error.message.startswith("clip.md: caption: runs over lines 2-3, and YAML would join them into one line")
    assert only('caption: "Line one\\nline two"').caption == "Line one\nline two"  # a break written as \n is kept


def test_problems_are_told_in_the_order_of_the_files_lines() -> None:
    error = refused("intent: pubish\ncaption: Hi #fyp\ntargets:\n  - platform: pinterest\n    altTxt: x\n"
                    "  - platform: youtub\nprivacyLvel: SELF_ONLY", "")
    assert [problem.message.split(":")[0] for problem in error.problems] == [
        "intent", "caption", "targets[1].altTxt", "targets[1].options.boardId", "targets[2].platform", "privacyLvel"]
