"""The sidecar parser: text in, a validated Sidecar or a SidecarError naming file and key out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pqdrop.config import AccountConfig, DefaultsConfig, ScheduleConfig
from pqdrop.errors import SidecarError
from pqdrop.sidecar.parse import Sidecar, Target, default_sidecar, parse_sidecar, parse_sidecar_text

UTC = UTC
DEFAULTS = DefaultsConfig(account="@mybrand", intent="draft", timezone="Europe/Berlin", late_grace_minutes=15)
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def parse(text: str, defaults: DefaultsConfig = DEFAULTS, now: datetime = NOW) -> Sidecar:
    return parse_sidecar_text(text, Path("inbox/clip.md"), defaults, now)


def target(text: str, defaults: DefaultsConfig = DEFAULTS, now: datetime = NOW) -> Target:
    (only,) = parse(text, defaults, now).targets
    return only


def refused(text: str, defaults: DefaultsConfig = DEFAULTS, now: datetime = NOW) -> SidecarError:
    with pytest.raises(SidecarError) as info:
        parse(text, defaults, now)
    assert str(info.value).startswith("clip.md: ")
    return info.value


def front(lines: str, body: str = "") -> str:
    return f"---\n{lines}\n---\n{body}"


# --- the whole value -----------------------------------------------------------------------


def test_minimal_sidecar_takes_everything_else_from_defaults() -> None:
    sidecar = parse(front("privacyLevel: SELF_ONLY", "Hello #fyp"))
    assert sidecar == Sidecar(
        path=Path("inbox/clip.md"),
        targets=(
            Target(
                platform="tiktok",
                account="@mybrand",
                intent="draft",
                caption="Hello #fyp",
                dispatch_at=None,
                options={"privacyLevel": "SELF_ONLY"},
            ),
        ),
        repost=False,
    )


def test_sidecar_keys_override_defaults() -> None:
    got = target(front('account: "@other"\nintent: publish\nplatform: tiktok', "x"))
    assert (got.account, got.intent, got.platform) == ("@other", "publish", "tiktok")


def test_account_id_is_kept_as_written() -> None:
    account_id = "4f6c1a2e-0000-4000-8000-000000000001"
    assert target(front(f"account: {account_id}")).account == account_id


def test_repost_true_is_read() -> None:
    assert parse(front("repost: true")).repost is True


def test_options_cannot_be_changed_after_parsing() -> None:
    options = target(front("disableDuet: true")).options
    with pytest.raises(TypeError):
        options["disableDuet"] = False  # type: ignore[index]


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse("x", now=datetime(2026, 1, 15, 12, 0))


# --- caption ---------------------------------------------------------------------------------


def test_body_becomes_the_caption_stripped() -> None:
    body = "\n\n  Line one\n\nLine two #fyp  \n\n"
    assert target(front("intent: draft", body)).caption == "Line one\n\nLine two #fyp"


def test_caption_key_is_the_caption_when_there_is_no_body() -> None:
    assert target(front('caption: "Look: this #fyp"')).caption == "Look: this #fyp"


def test_caption_key_and_body_together_are_refused() -> None:
    error = refused(front("caption: one", "two"))
    assert error.code == "SIDECAR_VALUE"
    assert "caption: given both" in str(error)


def test_text_without_frontmatter_is_all_caption() -> None:
    assert target("Just words, no frontmatter #fyp\n").caption == "Just words, no frontmatter #fyp"


def test_empty_frontmatter_is_allowed() -> None:
    assert target(front("", "Body")).caption == "Body"


def test_a_long_caption_is_read_whole_since_its_limit_depends_on_the_media() -> None:
    text = "é" * 3999  # over a video's 2,200 but within a photo post's 4,000: preflight.py decides (issue 13)
    assert target(front("intent: draft", text)).caption == text


def test_caption_that_yaml_reads_as_a_number_is_kept_as_typed() -> None:
    assert target(front("caption: 123")).caption == "123"


def test_caption_starting_with_hash_is_a_yaml_comment_and_refused() -> None:
    error = refused(front("caption: #fyp"))
    assert str(error).startswith('clip.md: caption: YAML reads "#fyp" on line 2 as a comment')
    assert 'caption: "#fyp"' in str(error)


# --- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("dispatchat", "dispatchAt"),
        ("dispatch_at", "dispatchAt"),
        ("privacylevel", "privacyLevel"),
        ("disable_duet", "disableDuet"),
        ("Caption", "caption"),
        ("acount", "account"),
    ],
)
def test_unknown_key_is_refused_naming_the_nearest_valid_key(typo: str, meant: str) -> None:
    error = refused(front(f"{typo}: x"))
    assert error.code == "SIDECAR_UNKNOWN_KEY"
    assert str(error) == f"clip.md: {typo}: unknown key; did you mean {meant}?"


def test_unknown_key_without_a_near_match_lists_the_valid_keys() -> None:
    error = refused(front("zzz: 1"))
    assert "zzz: unknown key; valid keys are account, caption, dispatchAt" in str(error)


def test_yaml_boolean_word_as_key_is_kept_as_written() -> None:
    assert str(refused(front("on: 1"))).startswith("clip.md: on: unknown key")


def test_unknown_key_under_options_names_the_nearest_option() -> None:
    error = refused(front("options:\n  disablecomment: true"))
    assert error.code == "SIDECAR_UNKNOWN_KEY"
    assert str(error) == "clip.md: options.disablecomment: unknown key; did you mean disableComment?"


def test_top_level_key_under_options_is_refused() -> None:
    error = refused(front("options:\n  dispatchAt: 2026-12-01T18:00:00Z"))
    assert error.code == "SIDECAR_UNKNOWN_KEY"
    assert "options.dispatchAt: not a TikTok option" in str(error)


def test_key_given_twice_is_refused_instead_of_last_one_winning() -> None:
    error = refused(front("dispatchAt: 2026-12-01T18:00:00Z\ndispatchAt: 2026-12-02T18:00:00Z"))
    assert error.code == "SIDECAR_DUPLICATE_KEY"
    assert str(error) == "clip.md: dispatchAt: given twice (again on line 3); keep one"


# --- broken frontmatter ------------------------------------------------------------------------


def test_broken_yaml_is_refused_with_its_line() -> None:
    error = refused(front("intent: [draft"))
    assert error.code == "SIDECAR_YAML"
    assert "not valid YAML: line 3" in str(error)


def test_tab_indentation_gets_a_spaces_hint() -> None:
    error = refused(front("options:\n\tdisableDuet: true"))
    assert error.code == "SIDECAR_YAML"
    assert "indent with spaces, not tabs" in str(error)


def test_unquoted_at_sign_gets_a_quoting_hint() -> None:
    error = refused(front("account: @mybrand"))
    assert error.code == "SIDECAR_YAML"
    assert 'line 2, column 10' in str(error)
    assert 'account: "@mybrand"' in str(error)


def test_frontmatter_that_is_a_list_is_refused() -> None:
    error = refused(front("- caption\n- account"))
    assert error.code == "SIDECAR_YAML"
    assert "must be `key: value` lines, not a list" in str(error)


def test_frontmatter_never_closed_is_refused() -> None:
    error = refused("---\naccount: \"@mybrand\"\nHello")
    assert error.code == "SIDECAR_YAML"
    assert "never closed" in str(error)


# --- TikTok options ----------------------------------------------------------------------------


def test_options_at_top_level_are_collected_with_api_names() -> None:
    options = target(
        front("privacyLevel: PUBLIC_TO_EVERYONE\ndisableDuet: true\ndisableStitch: false\nvideoCoverTimestampMs: 1500")
    ).options
    assert dict(options) == {
        "privacyLevel": "PUBLIC_TO_EVERYONE",
        "disableDuet": True,
        "disableStitch": False,
        "videoCoverTimestampMs": 1500,
    }


def test_options_under_options_key_are_collected() -> None:
    text = front("options:\n  disableComment: true\n  autoAddMusic: false\nbrandContentToggle: true")
    options = target(text).options
    assert dict(options) == {"disableComment": True, "autoAddMusic": False, "brandContentToggle": True}


def test_option_both_at_top_level_and_under_options_is_refused() -> None:
    error = refused(front("disableDuet: true\noptions:\n  disableDuet: false"))
    assert error.code == "SIDECAR_DUPLICATE_KEY"
    assert str(error) == "clip.md: disableDuet: given both at the top level and under options:; keep one"


def test_options_that_is_not_a_mapping_is_refused() -> None:
    error = refused(front("options: disableDuet"))
    assert str(error) == "clip.md: options: must be `option: value` lines indented under options:"


def test_privacy_level_outside_the_list_is_refused_suggesting_the_nearest() -> None:
    error = refused(front("privacyLevel: public"))
    assert error.code == "SIDECAR_VALUE"
    assert str(error) == (
        'clip.md: privacyLevel: "public" is not one of PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIENDS, '
        "FOLLOWER_OF_CREATOR, SELF_ONLY; did you mean PUBLIC_TO_EVERYONE?"
    )


def test_quoted_yes_is_not_a_boolean() -> None:
    error = refused(front('disableDuet: "yes"'))
    assert str(error) == (
        'clip.md: disableDuet: "yes" is not true or false; '
        "write disableDuet: true or disableDuet: false, without quotes"
    )


def test_unquoted_yes_is_a_yaml_boolean() -> None:
    assert dict(target(front("disableStitch: yes")).options) == {"disableStitch": True}


@pytest.mark.parametrize("value", ["-1", "true", '"1500"', "1.5"])
def test_cover_timestamp_must_be_a_whole_number_of_zero_or_more(value: str) -> None:
    error = refused(front(f"videoCoverTimestampMs: {value}"))
    assert error.code == "SIDECAR_VALUE"
    assert "videoCoverTimestampMs:" in str(error)
    assert "whole number" in str(error)


# --- account, intent, platform, repost ---------------------------------------------------------


def test_intent_in_wrong_case_is_refused_suggesting_lowercase() -> None:
    error = refused(front("intent: Publish"))
    assert error.code == "SIDECAR_VALUE"
    assert str(error) == 'clip.md: intent: "Publish" is not one of draft, publish; did you mean publish?'


def test_unknown_platform_is_refused() -> None:
    assert str(refused(front("platform: TikTok"))).startswith('clip.md: platform: "TikTok" is not one of tiktok')


def test_missing_account_without_default_is_refused() -> None:
    error = refused(front("intent: draft"), defaults=DefaultsConfig(timezone="Europe/Berlin"))
    assert error.code == "SIDECAR_MISSING"
    assert "account: missing" in str(error)
    assert "[defaults].account" in str(error)


@pytest.mark.parametrize("value", ['""', '"@my brand"', "12345", "null"])
def test_account_that_is_not_one_word_of_text_is_refused(value: str) -> None:
    error = refused(front(f"account: {value}"))
    assert error.code == "SIDECAR_VALUE"
    assert str(error).startswith("clip.md: account: ")


def test_repost_as_quoted_text_is_refused() -> None:
    assert str(refused(front('repost: "true"'))).startswith('clip.md: repost: "true" is not true or false')


# --- dispatchAt --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ('"2026-12-01T18:00:00Z"', datetime(2026, 12, 1, 18, 0, tzinfo=UTC)),
        ('"2026-12-01T18:00:00+01:00"', datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),
        ("2026-12-01T18:00:00+01:00", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),  # bare YAML, offset
        ("2026-07-01T18:00:00-04:00", datetime(2026, 7, 1, 22, 0, tzinfo=UTC)),  # bare YAML, negative
        ("2026-12-01T18:00:00Z", datetime(2026, 12, 1, 18, 0, tzinfo=UTC)),  # bare YAML, Z
        ("2026-12-01 18:00:00 +01:00", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),  # YAML's spaced form
        ("2026-12-01t18:00:00z", datetime(2026, 12, 1, 18, 0, tzinfo=UTC)),  # YAML's lowercase form
        ("2026-12-01T18:00:00.500+01:00", datetime(2026, 12, 1, 17, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_dispatch_at_with_offset_is_converted_to_utc(written: str, utc: datetime) -> None:
    assert target(front(f"dispatchAt: {written}")).dispatch_at == utc


@pytest.mark.parametrize(
    ("written", "utc"),
    [
        ("2026-12-01 18:00:00", datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),  # bare YAML, winter +01:00
        ("2026-07-01T18:00:00", datetime(2026, 7, 1, 16, 0, tzinfo=UTC)),  # bare YAML, summer +02:00
        ('"2026-12-01T18:00"', datetime(2026, 12, 1, 17, 0, tzinfo=UTC)),  # quoted, no seconds
        ("2026-07-01T18:00", datetime(2026, 7, 1, 16, 0, tzinfo=UTC)),  # not a YAML timestamp: text
    ],
)
def test_dispatch_at_without_offset_is_wall_time_in_defaults_timezone(written: str, utc: datetime) -> None:
    assert target(front(f"dispatchAt: {written}")).dispatch_at == utc


def test_dispatch_at_without_offset_follows_the_configured_zone() -> None:
    tokyo = DefaultsConfig(account="@mybrand", timezone="Asia/Tokyo")
    assert target(front("dispatchAt: 2026-12-01 18:00:00"), defaults=tokyo).dispatch_at == datetime(
        2026, 12, 1, 9, 0, tzinfo=UTC
    )


def test_dispatch_at_null_or_absent_means_now() -> None:
    assert target(front("dispatchAt: null")).dispatch_at is None
    assert target(front("dispatchAt:")).dispatch_at is None
    assert target(front("intent: draft")).dispatch_at is None


def test_dispatch_at_invalid_date_is_refused_with_an_example() -> None:
    error = refused(front('dispatchAt: "2026-13-01 18:00"'))
    assert error.code == "SIDECAR_VALUE"
    assert str(error) == (
        'clip.md: dispatchAt: "2026-13-01 18:00" is not a date-time; write e.g. 2026-01-16T18:00'
    )


@pytest.mark.parametrize("written", ["2026-12-01", '"2026-12-01"'])
def test_dispatch_at_date_without_time_is_refused(written: str) -> None:
    error = refused(front(f"dispatchAt: {written}"))
    assert str(error).startswith('clip.md: dispatchAt: "2026-12-01" needs a time of day')


@pytest.mark.parametrize("written", ["1767290400", "true", "[2026, 12, 1]"])
def test_dispatch_at_that_is_not_text_is_refused(written: str) -> None:
    assert "is not a date-time" in str(refused(front(f"dispatchAt: {written}")))


def test_dispatch_at_in_the_spring_forward_gap_is_refused() -> None:
    error = refused(front("dispatchAt: 2026-03-29T02:30:00"))
    assert error.code == "SIDECAR_VALUE"
    assert str(error).startswith('clip.md: dispatchAt: "2026-03-29T02:30:00" does not exist in Europe/Berlin')


def test_dispatch_at_in_the_fall_back_fold_is_refused_offering_both_offsets() -> None:
    error = refused(front("dispatchAt: 2026-10-25 02:30:00"))
    assert "happens twice in Europe/Berlin" in str(error)
    assert "2026-10-25T02:30:00+02:00 (the first) or 2026-10-25T02:30:00+01:00 (the second)" in str(error)


def test_dispatch_at_in_the_fold_with_explicit_offset_is_accepted() -> None:
    got = target(front("dispatchAt: 2026-10-25T02:30:00+01:00")).dispatch_at
    assert got == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_dispatch_at_far_in_the_past_is_refused_saying_how_far() -> None:
    error = refused(front("dispatchAt: 2026-01-13T09:30:00Z"))
    assert error.code == "SIDECAR_DISPATCH_PAST"
    assert str(error).startswith('clip.md: dispatchAt: "2026-01-13T09:30:00Z" is 2 days 2 hours in the past')
    assert "15 minutes allowed by [defaults].late_grace_minutes" in str(error)


def test_dispatch_at_just_beyond_the_grace_is_refused() -> None:
    error = refused(front("dispatchAt: 2026-01-15T11:44:00Z"))
    assert "is 16 minutes in the past" in str(error)


def test_dispatch_at_within_the_grace_means_now() -> None:
    assert target(front("dispatchAt: 2026-01-15T11:46:00Z")).dispatch_at is None


def test_dispatch_at_exactly_now_means_now() -> None:
    assert target(front("dispatchAt: 2026-01-15T12:00:00Z")).dispatch_at is None


def test_dispatch_at_one_minute_ahead_is_kept() -> None:
    assert target(front("dispatchAt: 2026-01-15T12:01:00Z")).dispatch_at == NOW + timedelta(minutes=1)


def test_dispatch_at_more_than_five_years_ahead_is_refused_as_a_likely_typo() -> None:
    assert "more than 5 years ahead" in str(refused(front("dispatchAt: 2062-12-01T18:00:00Z")))


# --- the default sidecar -----------------------------------------------------------------------


def test_default_sidecar_posts_to_the_default_account_without_caption() -> None:
    assert default_sidecar(DEFAULTS) == Sidecar(
        path=None,
        targets=(
            Target(platform="tiktok", account="@mybrand", intent="draft", caption="", dispatch_at=None, options={}),
        ),
    )


def test_default_sidecar_without_default_account_is_refused() -> None:
    with pytest.raises(SidecarError) as info:
        default_sidecar(DefaultsConfig())
    assert info.value.code == "SIDECAR_MISSING"
    assert "[defaults]" in str(info.value)


# --- real files --------------------------------------------------------------------------------


def test_file_with_bom_and_crlf_line_ends_is_read(tmp_path: Path) -> None:
    path = tmp_path / "clip.md"
    path.write_bytes("\ufeff---\r\nintent: publish\r\n---\r\nÜber alles #fyp\r\nzwei\r\n".encode())
    sidecar = parse_sidecar(path, DEFAULTS, NOW)
    assert sidecar.path == path
    assert (sidecar.targets[0].intent, sidecar.targets[0].caption) == ("publish", "Über alles #fyp\nzwei")


def test_file_without_frontmatter_is_all_caption(tmp_path: Path) -> None:
    path = tmp_path / "clip.md"
    path.write_text("Only a caption\n", encoding="utf-8")
    assert parse_sidecar(path, DEFAULTS, NOW).targets[0].caption == "Only a caption"


def test_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "clip.md"
    path.write_bytes("caption in latin-1: \xe9".encode("latin-1"))
    with pytest.raises(SidecarError) as info:
        parse_sidecar(path, DEFAULTS, NOW)
    assert info.value.code == "SIDECAR_ENCODING"
    assert str(info.value).startswith("clip.md: not UTF-8 text (byte 0xe9")


def test_file_that_is_gone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SidecarError) as info:
        parse_sidecar(tmp_path / "clip.md", DEFAULTS, NOW)
    assert info.value.code == "SIDECAR_UNREADABLE"
    assert str(info.value).startswith("clip.md: cannot read the sidecar")


# --- several targets (issue 8) -----------------------------------------------------------------


def targets(text: str, **context: Any) -> tuple[Target, ...]:
    return parse_sidecar_text(text, Path("inbox/clip.md"), context.pop("defaults", DEFAULTS), NOW, **context).targets


def refused_with(text: str, **context: Any) -> SidecarError:
    with pytest.raises(SidecarError) as info:
        targets(text, **context)
    return info.value


TWO = """---
intent: publish
privacyLevel: SELF_ONLY
dispatchAt: 2026-02-01T18:00:00
targets:
  - account: "@mybrand"
  - account: "@otherbrand"
    intent: draft
    caption: "For the other brand"
    privacyLevel: PUBLIC_TO_EVERYONE
---
The shared caption #fyp
"""


def test_two_targets_inherit_the_top_level_keys() -> None:
    first, _ = targets(TWO)
    assert first == Target(
        platform="tiktok",
        account="@mybrand",
        intent="publish",
        caption="The shared caption #fyp",
        dispatch_at=datetime(2026, 2, 1, 17, 0, tzinfo=UTC),
        options={"privacyLevel": "SELF_ONLY"},
    )


def test_a_target_overrides_intent_caption_and_options_for_itself_only() -> None:
    first, second = targets(TWO)
    assert (second.account, second.intent, second.caption) == ("@otherbrand", "draft", "For the other brand")
    assert second.options == {"privacyLevel": "PUBLIC_TO_EVERYONE"}
    assert second.dispatch_at == first.dispatch_at
    assert (first.intent, first.options) == ("publish", {"privacyLevel": "SELF_ONLY"})


def test_three_targets_each_keep_their_own_time_and_merge_options_key_by_key() -> None:
    text = front(
        "disableDuet: true\nprivacyLevel: SELF_ONLY\ntargets:\n"
        '  - account: "@a"\n'
        '  - account: "@b"\n    dispatchAt: 2026-03-01T09:00:00Z\n    options:\n      disableDuet: false\n'
        '  - account: "@c"\n    dispatchAt: "2026-07-01T09:00:00"\n    disableComment: true\n',
        "x",
    )
    a, b, c = targets(text)
    assert [t.dispatch_at for t in (a, b, c)] == [
        None, datetime(2026, 3, 1, 9, 0, tzinfo=UTC), datetime(2026, 7, 1, 7, 0, tzinfo=UTC)]  # Berlin summer time
    assert a.options == {"privacyLevel": "SELF_ONLY", "disableDuet": True}
    assert b.options == {"privacyLevel": "SELF_ONLY", "disableDuet": False}
    assert c.options == {"privacyLevel": "SELF_ONLY", "disableDuet": True, "disableComment": True}


def test_a_target_without_account_takes_the_default_account() -> None:
    first, second = targets(front('targets:\n  - intent: publish\n  - account: "@otherbrand"'))
    assert (first.account, first.intent, second.account, second.intent) == (
        "@mybrand", "publish", "@otherbrand", "draft")


def test_an_unknown_key_inside_a_target_names_the_target_and_the_nearest_key() -> None:
    error = refused_with(front('targets:\n  - account: "@a"\n  - account: "@b"\n    dispatch_at: next'))
    assert (error.code, str(error)) == (
        "SIDECAR_UNKNOWN_KEY", "clip.md: targets[2].dispatch_at: unknown key; did you mean dispatchAt?")


def test_an_unknown_option_under_a_targets_options_is_named_with_its_path() -> None:
    error = refused_with(front('targets:\n  - account: "@a"\n    options:\n      disableDuets: true'))
    assert str(error) == "clip.md: targets[1].options.disableDuets: unknown key; did you mean disableDuet?"


def test_repost_inside_a_target_is_refused_as_a_key_of_the_whole_item() -> None:
    error = refused_with(front('targets:\n  - account: "@a"\n    repost: true'))
    assert "targets[1].repost: applies to the whole item; write it at the top level" in str(error)


def test_a_bad_value_inside_a_target_names_the_target() -> None:
    error = refused_with(front('targets:\n  - account: "@a"\n  - account: "@b"\n    intent: post'))
    assert str(error) == 'clip.md: targets[2].intent: "post" is not one of draft, publish'


def test_the_same_account_in_two_targets_is_refused_however_it_is_written() -> None:
    error = refused_with(front('targets:\n  - account: "@MyBrand"\n  - account: mybrand'))
    assert error.code == "SIDECAR_DUPLICATE_ACCOUNT"
    assert str(error) == 'clip.md: targets[2].account: "mybrand" is already the account of targets[1]; ' \
        "an item posts once per account"


def test_two_targets_inheriting_one_account_are_refused() -> None:
    error = refused_with(front("targets:\n  - intent: draft\n  - intent: publish"))
    assert error.code == "SIDECAR_DUPLICATE_ACCOUNT"


@pytest.mark.parametrize("value", ["[]", '"@a"', "\n  - just text"])
def test_targets_that_is_not_a_list_of_mappings_is_refused(value: str) -> None:
    error = refused_with(front(f"targets: {value}"))
    assert str(error).startswith("clip.md: targets")
    assert 'e.g. targets: [{account: "@mybrand"}, {account: "@otherbrand"}], or a line "- account: ..." for each, ' \
        "below targets:" in str(error)
    assert "\n" not in str(error)


# --- per-account defaults ---------------------------------------------------------------------


ACCOUNTS = {
    "@otherbrand": AccountConfig.model_validate({
        "intent": "publish",
        "privacyLevel": "SELF_ONLY",
        "disableComment": True,
        "caption_suffix": "#otherbrand #ad",
        "timezone": "America/New_York",
    }),
}


def test_account_defaults_fill_what_the_sidecar_leaves_out() -> None:
    (got,) = targets(front('account: "@otherbrand"', "Hi"), accounts=ACCOUNTS)
    assert (got.intent, got.options, got.caption) == (
        "publish", {"privacyLevel": "SELF_ONLY", "disableComment": True}, "Hi #otherbrand #ad")


def test_the_sidecar_top_level_beats_the_account_defaults_and_a_target_beats_both() -> None:
    text = front('intent: draft\nprivacyLevel: FOLLOWER_OF_CREATOR\ntargets:\n  - account: "@otherbrand"\n'
                 '  - account: "@mybrand"\n    intent: publish')
    other, mine = targets(text, accounts=ACCOUNTS)
    assert (other.intent, other.options) == ("draft", {"privacyLevel": "FOLLOWER_OF_CREATOR", "disableComment": True})
    assert (mine.intent, mine.options) == ("publish", {"privacyLevel": "FOLLOWER_OF_CREATOR"})


def test_account_defaults_beat_the_defaults_section() -> None:
    (got,) = targets(front('account: "@otherbrand"'), accounts=ACCOUNTS)
    assert got.intent == "publish" and DEFAULTS.intent == "draft"


def test_the_account_table_applies_however_the_sidecar_writes_the_account() -> None:
    (got,) = targets(front("account: OtherBrand"), accounts=ACCOUNTS)
    assert got.intent == "publish"


def test_the_caption_suffix_goes_on_its_own_line_when_it_starts_with_a_line_break() -> None:
    accounts = {"@mybrand": AccountConfig(caption_suffix="\n\n#mybrand")}
    (got,) = targets(front("", "Hello"), accounts=accounts)
    assert got.caption == "Hello\n\n#mybrand"


def test_the_caption_suffix_alone_is_the_caption_of_an_empty_one() -> None:
    (got,) = targets(front('account: "@otherbrand"'), accounts=ACCOUNTS)
    assert got.caption == "#otherbrand #ad"


def test_a_target_remembers_the_suffix_in_its_caption_for_the_limits_message() -> None:
    (got,) = targets(front('account: "@otherbrand"', "Hello"), accounts=ACCOUNTS)
    assert (got.caption, got.caption_suffix) == ("Hello #otherbrand #ad", "#otherbrand #ad")


def test_a_time_without_offset_is_read_in_the_accounts_time_zone() -> None:
    text = front('targets:\n  - account: "@mybrand"\n  - account: "@otherbrand"\ndispatchAt: 2026-02-01T18:00:00')
    mine, other = targets(text, accounts=ACCOUNTS)
    assert mine.dispatch_at == datetime(2026, 2, 1, 17, 0, tzinfo=UTC)  # Berlin, from [defaults]
    assert other.dispatch_at == datetime(2026, 2, 1, 23, 0, tzinfo=UTC)  # New York, from the account


def test_the_default_sidecar_takes_the_account_defaults_too() -> None:
    defaults = DefaultsConfig(account="@otherbrand", timezone="Europe/Berlin")
    (got,) = default_sidecar(defaults, accounts=ACCOUNTS).targets
    assert (got.intent, got.caption, got.options) == (
        "publish", "#otherbrand #ad", {"privacyLevel": "SELF_ONLY", "disableComment": True})


# --- dispatchAt: next and [schedule].auto -------------------------------------------------------


SLOTS = ScheduleConfig(slots=("09:00", "18:30"))


def test_dispatch_at_next_asks_for_the_accounts_next_slot() -> None:
    (got,) = targets(front("dispatchAt: next"), schedule=SLOTS)
    assert (got.next_slot, got.dispatch_at) == (True, None)


def test_dispatch_at_next_without_slots_is_refused_naming_dispatch_at_and_schedule_slots() -> None:
    error = refused_with(front("dispatchAt: next"))
    assert error.code == "SIDECAR_NO_SLOTS"
    assert str(error).startswith("clip.md: dispatchAt: next takes @mybrand's next free posting slot, "
                                 "but no slots are configured; set [schedule] slots = ")


def test_dispatch_at_next_inside_a_target_names_that_target() -> None:
    error = refused_with(front('targets:\n  - account: "@a"\n    dispatchAt: next'))
    assert str(error).startswith("clip.md: targets[1].dispatchAt: next takes @a's next free")


def test_slots_of_the_account_alone_are_enough_for_next() -> None:
    accounts = {"@mybrand": AccountConfig(slots=("12:00",))}
    (got,) = targets(front("dispatchAt: next"), accounts=accounts)
    assert got.next_slot is True


def test_with_auto_a_sidecar_without_dispatch_at_takes_a_slot() -> None:
    (got,) = targets(front("intent: publish"), schedule=ScheduleConfig(slots=("09:00",), auto=True))
    assert got.next_slot is True


def test_with_auto_dispatch_at_now_still_posts_at_once() -> None:
    (got,) = targets(front("dispatchAt: now"), schedule=ScheduleConfig(slots=("09:00",), auto=True))
    assert (got.next_slot, got.dispatch_at) == (False, None)


def test_with_auto_a_written_time_is_kept() -> None:
    (got,) = targets(front("dispatchAt: 2026-03-01T09:00:00Z"), schedule=ScheduleConfig(slots=("09:00",), auto=True))
    assert (got.next_slot, got.dispatch_at) == (False, datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


def test_with_auto_a_top_level_time_is_inherited_by_targets_rather_than_a_slot() -> None:
    text = front('dispatchAt: 2026-03-01T09:00:00Z\ntargets:\n  - account: "@a"\n  - account: "@b"\n'
                 "    dispatchAt: next")
    a, b = targets(text, schedule=ScheduleConfig(slots=("09:00",), auto=True))
    assert (a.next_slot, a.dispatch_at, b.next_slot) == (False, datetime(2026, 3, 1, 9, 0, tzinfo=UTC), True)


# --- issue 12: smart punctuation ----------------------------------------------------------------

SMART_OFF = "turn off smart punctuation where you write it"


@pytest.mark.parametrize("fence", ["—-", "–-", "—", "–—", "‒-"])
def test_a_fence_smart_punctuation_turned_into_dashes_is_refused_never_read_as_a_caption(fence: str) -> None:
    error = refused(f"{fence}\naccount: “@otherbrand”\nintent: publish\n{fence}\nTeaser\n")
    assert error.code == "SIDECAR_SMART_PUNCTUATION"
    assert str(error).startswith(f"clip.md: line 1 is {fence!r}, a frontmatter fence that smart punctuation turned")
    assert "write three plain hyphens ---" in str(error) and SMART_OFF in str(error)


def test_a_closing_fence_turned_into_dashes_is_refused_naming_its_line() -> None:
    error = refused("---\nintent: publish\n—-\nTeaser\n")
    assert error.code == "SIDECAR_SMART_PUNCTUATION" and "line 3 is '—-'" in str(error)


@pytest.mark.parametrize("quoted", ["“@otherbrand”", "‘@otherbrand’", "„@otherbrand“"])
def test_a_value_in_curly_quotes_is_refused_with_how_to_turn_them_off(quoted: str) -> None:
    error = refused(front(f"intent: draft\naccount: {quoted}"))
    assert error.code == "SIDECAR_SMART_PUNCTUATION"
    assert "line 3 quotes a value with curly quotes" in str(error) and SMART_OFF in str(error)


def test_dashes_and_curly_quotes_in_a_caption_are_just_text() -> None:
    assert target(front('caption: "He said “hi” — twice"')).caption == "He said “hi” — twice"
    assert target("Sunset — again\n—\n“quoted”").caption == "Sunset — again\n—\n“quoted”"


# --- YAML 1.1's base-60 numbers ----------------------------------------------------------------


@pytest.mark.parametrize(("written", "advice"), [
    # NOW is 13:00 in Berlin: the next 18:00 is today's, the next 9:30 tomorrow's.
    ("18:00", "2026-01-15T18:00"), ("9:30", "2026-01-16T09:30"), ("18:00:30", "2026-01-15T18:00:30"),
])
def test_a_bare_time_of_day_as_dispatch_at_asks_for_its_date_not_read_as_a_number(written: str, advice: str) -> None:
    # YAML 1.1 reads 18:00 as 1080 (base 60); the user wrote a time.
    error = refused(front(f"dispatchAt: {written}"))
    assert str(error) == (f'clip.md: dispatchAt: "{written}" needs its date; write e.g. {advice}, '
                          "or dispatchAt: next for the account's next free slot")


@pytest.mark.parametrize("written", ["12:30", "1:30:00", "190:20:30.15", "3:45"])
def test_a_caption_that_looks_like_a_base_60_number_is_posted_as_written(written: str) -> None:
    assert target(front(f"caption: {written}")).caption == written


def test_plain_numbers_are_still_numbers() -> None:
    assert dict(target(front("videoCoverTimestampMs: 1500")).options) == {"videoCoverTimestampMs": 1500}
    assert target(front("caption: 1.50")).caption == "1.50"  # text keys keep what was typed (issue 22)
    error = refused(front("videoCoverTimestampMs: 1:30"))
    assert str(error).startswith('clip.md: videoCoverTimestampMs: "1:30" is not a whole number of 0 or more')


# --- fences left out or mistyped ----------------------------------------------------------------

FENCES = "put a line --- above and below the settings"


def test_settings_without_fences_are_refused_never_posted_as_the_caption_on_defaults() -> None:
    error = refused("intent: publish\nprivacyLevel: SELF_ONLY\n\nbody\n")
    assert error.code == "SIDECAR_FENCES"
    assert str(error) == ("clip.md: line 1 'intent: publish' is a setting, but the sidecar has no --- fences, so it "
                          f"would be posted as the caption, with default settings; {FENCES}")


@pytest.mark.parametrize("key", ["account", "caption", "dispatchAt", "privacyLevel", "disableDuet", "targets",
                                 "repost", "options", "platform", "cancel"])
def test_any_sidecar_key_at_the_top_of_a_fenceless_sidecar_is_taken_for_settings(key: str) -> None:
    error = refused(f"\n\n{key}: x\nA caption\n")
    assert error.code == "SIDECAR_FENCES" and f"line 1 '{key}: x' is a setting" in str(error)


@pytest.mark.parametrize("fence", ["--", "-", "- - -", "***", "* * *", "___", "===", "~~~", "+++"])
def test_a_near_miss_fence_above_settings_is_refused_naming_the_line(fence: str) -> None:
    error = refused(f"{fence}\nintent: publish\n{fence}\nbody\n")
    assert error.code == "SIDECAR_FENCES"
    assert str(error).startswith(f"clip.md: line 1 is {fence!r}, not a frontmatter fence, so the settings below it "
                                 "would be posted as the caption, with default settings")
    assert str(error).endswith(FENCES)


def test_toml_fences_are_refused_with_settings_written_the_toml_way_too() -> None:
    error = refused('+++\nintent = "publish"\n+++\nbody\n')
    assert error.code == "SIDECAR_FENCES"
    assert "(pqdrop reads YAML settings between --- lines, not TOML between +++)" in str(error)


def test_a_mistyped_closing_fence_is_named_by_its_line() -> None:
    error = refused("---\nintent: publish\n--\nbody\n")
    assert (error.code, str(error)) == ("SIDECAR_FENCES", "clip.md: line 3 is '--', not a closing fence; end the "
                                                          "settings with a line of three hyphens ---")


def test_a_setting_below_the_closing_fence_is_refused_rather_than_posted_as_caption_text() -> None:
    error = refused("---\nintent: publish\n---\nprivacyLevel: SELF_ONLY\nbody\n")
    assert error.code == "SIDECAR_FENCES"
    assert str(error).startswith("clip.md: line 4 'privacyLevel: SELF_ONLY' is a setting below the closing --- "
                                 "(line 3)")
    assert refused("---\n---\nintent: publish\nbody\n").code == "SIDECAR_FENCES"  # an empty frontmatter, then settings


@pytest.mark.parametrize("body", ["Recipe: pasta\nwith basil", "Intent: to make you laugh", "Note: sound on",
                                  "***\nNew video!", "--\nsigned, me", "+++ big news +++", "caption of the day: sun",
                                  "http://example.com: my site"])
def test_a_caption_with_a_colon_or_a_rule_stays_a_caption_only_known_keys_count(body: str) -> None:
    assert target(body).caption == body
    assert target(front("intent: draft", body)).caption == body


@pytest.mark.parametrize(("line", "says"), [
    ("caption: 'Don't stop #fyp'",
     "line 2: an apostrophe inside '…' ends the text early; write caption: \"Don't stop #fyp\" "
     "(or put the caption below the closing ---)"),
    ('caption: "She said "hi" to me"',
     "line 2: a \" inside \"…\" ends the text early; write caption: 'She said \"hi\" to me' "
     "(or put the caption below the closing ---)"),
    ("caption: Look: this is it",
     'line 2: a ": " in a value without quotes reads as another key; write caption: "Look: this is it" '
     "(or put the caption below the closing ---)"),
    ("account: \"@mybrand\"\ntitle: 'It''s ok, isn't it'",
     "line 3: an apostrophe inside '…' ends the text early; write title: \"It's ok, isn't it\" (YAML:"),
])
def test_a_quoting_mistake_is_named_with_the_line_to_write(line: str, says: str) -> None:
    error = refused(front(line))
    assert error.code == "SIDECAR_YAML"
    assert str(error).startswith(f"clip.md: the frontmatter is not valid YAML: {says}")


@pytest.mark.parametrize(("line", "typed"), [
    ("caption: 'Don't stop #fyp'", "Don't stop #fyp"),
    ('caption: "She said "hi" to me"', 'She said "hi" to me'),
    ("caption: Look: this is it", "Look: this is it"),
])
def test_the_line_a_quoting_fix_offers_posts_the_caption_as_typed(line: str, typed: str) -> None:
    message = str(refused(front(f'account: "@mybrand"\n{line}')))
    offered = message.split("; write ", 1)[1].split(" (or put", 1)[0]
    sidecar = parse(front(f'account: "@mybrand"\n{offered}'), DEFAULTS, NOW)
    assert sidecar.targets[0].caption == typed


@pytest.mark.parametrize(("written", "example"), [
    ("tomorrow 18:00", "2026-01-16T18:00"), ("tomorrow", "2026-01-16T18:00"), ("friday at 9.30", "2026-01-16T09:30"),
])
def test_a_dispatch_at_in_words_is_answered_with_tomorrow_at_its_time_in_the_users_zone(
    written: str, example: str
) -> None:
    late_evening = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)  # already the 16th in Berlin: tomorrow is the 17th
    assert str(refused(front(f"dispatchAt: {written}"))) == (
        f'clip.md: dispatchAt: "{written}" is not a date-time; write e.g. {example}')
    assert str(refused(front(f"dispatchAt: {written}"), now=late_evening)).endswith(
        f"write e.g. 2026-01-17T{example[-5:]}")
    # The example offered is a time pqdrop takes: tomorrow, in the zone of [defaults].timezone.
    assert target(front(f"dispatchAt: {example}")).dispatch_at == datetime.fromisoformat(example).replace(
        tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)
