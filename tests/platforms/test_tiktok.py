"""TikTok's rules beyond the media: captions in UTF-16 units, branded content, the cover photo, creator info."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import pytest
from av.video.stream import VideoStream
from tests.conftest import sidecar

from pqdrop.commands.check import check_paths
from pqdrop.config import AccountConfig, Config, DefaultsConfig
from pqdrop.errors import SidecarError
from pqdrop.media.mediagen import make_image, make_video
from pqdrop.media.probe import MediaInfo, probe
from pqdrop.platforms.tiktok import CreatorInfo, Reaction, answer_to, parse_creator_info, utf16_units
from pqdrop.posting.preflight import applicable, check_post, creator_problems, post_warnings, video_problems
from pqdrop.sandbox import Sandbox
from pqdrop.service.workers import EXIT_FAILED, Workers, once
from pqdrop.sidecar.parse import Sidecar, parse_sidecar_text

DEFAULTS = DefaultsConfig(account="@mybrand", intent="publish", timezone="Europe/Berlin")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
FIRE = "\N{FIRE}"


def parsed(frontmatter: str, body: str = "A caption", **context: Any) -> Sidecar:
    return parse_sidecar_text(f"---\n{frontmatter}\n---\n{body}", Path("inbox/clip.md"), DEFAULTS, NOW, **context)


def refusal(sidecar_: Sidecar, media: list[MediaInfo]) -> SidecarError:
    with pytest.raises(SidecarError) as caught:
        check_post("clip", media, sidecar_)
    return caught.value


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> MediaInfo:
    return probe(make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[MediaInfo]:
    folder = tmp_path_factory.mktemp("photos")
    return [probe(make_image(folder / f"{n}.jpg", width=64, height=48)) for n in (1, 2)]


# --- captions ------------------------------------------------------------------------------


def test_tiktok_counts_an_emoji_as_two_utf16_units() -> None:
    assert (utf16_units(FIRE * 1500), utf16_units("é" * 10), utf16_units("")) == (3000, 10, 0)


def test_1500_fire_emoji_are_refused_naming_the_2200_limit_and_the_3000_units_measured(clip: MediaInfo) -> None:
    error = refusal(parsed("", FIRE * 1500), [clip])
    assert error.code == "CAPTION_TOO_LONG"
    assert error.message == (
        "clip.md: caption: 3,000 UTF-16 units (1,500 characters; TikTok counts an emoji as 2), over TikTok's 2,200 "
        "for a video caption; shorten it by 800"
    )


def test_a_video_caption_of_exactly_2200_units_with_an_emoji_passes(clip: MediaInfo) -> None:
    check_post("clip", [clip], parsed("", "a" * 2198 + FIRE))


def test_the_caption_limit_counts_the_accounts_caption_suffix(clip: MediaInfo) -> None:
    accounts = {"@mybrand": AccountConfig(caption_suffix="#mybrand #ad")}
    check_post("clip", [clip], parsed("", "a" * (2200 - len(" #mybrand #ad")), accounts=accounts))
    error = refusal(parsed("", "a" * 2188, accounts=accounts), [clip])
    assert error.message == (
        'clip.md: caption: 2,201 UTF-16 units with the 12 of [accounts."@mybrand"].caption_suffix, over TikTok\'s '
        "2,200 for a video caption; shorten it by 1"
    )


def test_a_photo_caption_is_the_description_up_to_4000_units_and_refused_beyond(photos: list[MediaInfo]) -> None:
    check_post("trip", photos, parsed("", "a" * 4000))
    error = refusal(parsed("", "a" * 4001), photos)
    assert error.message == (
        "clip.md: caption: 4,001 UTF-16 units, over TikTok's 4,000 for a photo post's description; shorten it by 1"
    )


def test_a_photo_caption_over_the_90_unit_title_is_sent_with_a_warning(photos: list[MediaInfo]) -> None:
    assert post_warnings(parsed("", "a" * 90), photos) == []
    [warning] = post_warnings(parsed("", "a" * 91), photos)
    assert warning.startswith("@mybrand: caption: 91 UTF-16 units; pqdrop sends it as the photo post's description")


def test_each_target_of_several_is_named_in_a_caption_refusal(clip: MediaInfo) -> None:
    text = 'targets:\n  - account: "@mybrand"\n  - account: "@otherbrand"\n    caption: "' + FIRE * 1101 + '"'
    error = refusal(parsed(text), [clip])
    assert error.message.startswith("clip.md: targets[2].caption: 2,202 UTF-16 units")


# --- branded content, the cover photo, photo-only switches --------------------------------


def test_branded_content_that_is_private_is_refused(clip: MediaInfo) -> None:
    error = refusal(parsed("brandContentToggle: true\nprivacyLevel: SELF_ONLY"), [clip])
    assert error.code == "TIKTOK_RULE"
    assert error.message.startswith(
        "clip.md: brandContentToggle: TikTok does not allow branded content to be private (privacyLevel SELF_ONLY)"
    )


@pytest.mark.parametrize(
    "options",
    [
        "brandContentToggle: true\nprivacyLevel: MUTUAL_FOLLOW_FRIENDS",
        "brandOrganicToggle: true\nprivacyLevel: SELF_ONLY",
    ],
)
def test_branded_content_for_friends_and_your_own_brand_kept_private_pass(clip: MediaInfo, options: str) -> None:
    check_post("clip", [clip], parsed(options))


def test_the_cover_photo_index_counts_from_0_within_the_photos(photos: list[MediaInfo]) -> None:
    check_post("trip", photos, parsed("photoCoverIndex: 1"))
    error = refusal(parsed("photoCoverIndex: 2"), photos)
    assert error.message == (
        "clip.md: photoCoverIndex: 2 is not one of this post's 2 photos; TikTok counts from 0, so write 0 to 1"
    )


def test_duet_stitch_and_cover_time_are_not_sent_for_photos(photos: list[MediaInfo], clip: MediaInfo) -> None:
    wanted = parsed("disableDuet: true\ndisableStitch: true\nvideoCoverTimestampMs: 10\ndisableComment: true")
    assert dict(applicable(wanted, photos).targets[0].options) == {"disableComment": True}
    assert applicable(wanted, [clip]) == wanted


# --- video codecs ------------------------------------------------------------------------


def mpeg4_clip(path: Path) -> Path:
    """An MP4 holding MPEG-4 Part 2 video, a codec TikTok does not take."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = 360, 640, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame(360, 640, "yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_an_h264_clip_passes_the_codec_rule(clip: MediaInfo) -> None:
    assert (clip.codec, [p for p in video_problems(clip) if p.startswith("codec")]) == ("h264", [])


def test_an_mpeg4_part_2_clip_is_refused_naming_the_codecs_tiktok_takes(tmp_path: Path) -> None:
    info = probe(mpeg4_clip(tmp_path / "old.mp4"))
    assert video_problems(info) == [
        "codec mpeg4 is not one TikTok takes (H.264, H.265, VP8, VP9); re-export the video as H.264"
    ]


# --- creator info ---------------------------------------------------------------------------

PRIVATE = CreatorInfo(("FOLLOWER_OF_CREATOR", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"), comment_disabled=True,
                      duet_disabled=True, stitch_disabled=True, max_video_post_duration_sec=60)


def test_creator_info_is_read_in_snake_case_and_camel_case() -> None:
    snake = {"data": {"privacy_level_options": ["SELF_ONLY"], "comment_disabled": True,
                      "max_video_post_duration_sec": 180}}
    camel = {"privacyLevelOptions": ["SELF_ONLY"], "commentDisabled": True, "maxVideoPostDurationSec": 180}
    assert parse_creator_info(snake) == parse_creator_info(camel) == CreatorInfo(
        ("SELF_ONLY",), comment_disabled=True, max_video_post_duration_sec=180)


def test_a_private_account_cannot_post_to_everyone(clip: MediaInfo) -> None:
    (target,) = parsed("privacyLevel: PUBLIC_TO_EVERYONE").targets
    assert creator_problems(target, [clip], PRIVATE) == [
        "privacyLevel: @mybrand offers FOLLOWER_OF_CREATOR, MUTUAL_FOLLOW_FRIENDS, SELF_ONLY, not PUBLIC_TO_EVERYONE; "
        "a private account cannot post PUBLIC_TO_EVERYONE"
    ]
    (followers,) = parsed("privacyLevel: FOLLOWER_OF_CREATOR").targets
    assert creator_problems(followers, [clip], PRIVATE) == []


def test_a_video_longer_than_the_accounts_own_maximum_is_refused(tmp_path: Path) -> None:
    (target,) = parsed("").targets
    inside = probe(make_video(tmp_path / "inside.mp4", seconds=60, fps=1))
    outside = probe(make_video(tmp_path / "outside.mp4", seconds=61, fps=1))
    assert creator_problems(target, [inside], PRIVATE) == []
    assert creator_problems(target, [outside], PRIVATE) == [
        "outside.mp4: duration 1:01 is over @mybrand's 1:00 maximum"
    ]


def test_switches_the_account_has_off_are_not_switched_on(clip: MediaInfo, photos: list[MediaInfo]) -> None:
    (target,) = parsed("disableComment: false\ndisableDuet: false").targets
    assert [problem.split(":")[0] for problem in creator_problems(target, [clip], PRIVATE)] == [
        "disableComment", "disableDuet"]
    # Duet does not exist for photos, so only the comment switch counts there.
    assert [problem.split(":")[0] for problem in creator_problems(target, photos, PRIVATE)] == ["disableComment"]
    (quiet,) = parsed("").targets
    assert creator_problems(quiet, [clip], PRIVATE) == []


# --- error codes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reaction"),
    [("spam_risk_too_many_posts", Reaction.RETRY), ("internal", Reaction.RETRY),
     ("picture_size_check_failed", Reaction.FAIL), ("spam_risk_text", Reaction.FAIL),
     ("auth_removed", Reaction.PAUSE), ("access_token_invalid", Reaction.PAUSE)],
)
def test_tiktok_codes_map_to_what_pqdrop_does_next(code: str, reaction: Reaction) -> None:
    assert answer_to(code).reaction is reaction


def test_an_unknown_tiktok_code_fails_the_item_naming_the_code() -> None:
    answer = answer_to("brand_new_rule")
    assert (answer.reaction, answer.meaning) == (Reaction.FAIL, "TikTok answered 'brand_new_rule', a code pqdrop does "
                                                                "not know")


# --- in the pipeline and in `pqdrop check` ---------------------------------------------------


def test_branded_and_private_fails_before_any_upload(service: Workers, inbox: Path, sandbox: Sandbox) -> None:
    make_video(inbox / "ad.mp4", seconds=1)
    sidecar(inbox / "ad.md", "brandContentToggle: true\nprivacyLevel: SELF_ONLY\n")
    assert once(service)[0] == EXIT_FAILED
    error = json.loads((inbox / "failed" / "ad.status.json").read_text())["error"]
    assert error["code"] == "TIKTOK_RULE"
    assert "branded content to be private" in error["message"]
    assert sandbox.state_summary()["contents"] == {}


def test_the_fire_caption_fails_before_any_upload_and_check_says_so(
    service: Workers, config: Config, inbox: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    make_video(inbox / "hot.mp4", seconds=1)
    sidecar(inbox / "hot.md", body=FIRE * 1500)
    assert check_paths(config, []) == 1
    assert "2,200" in capsys.readouterr().out
    assert once(service)[0] == EXIT_FAILED
    error = json.loads((inbox / "failed" / "hot.status.json").read_text())["error"]
    assert ("3,000 UTF-16 units" in error["message"], error["code"]) == (True, "CAPTION_TOO_LONG")
    assert sandbox.state_summary()["contents"] == {}


def test_check_warns_of_a_photo_caption_longer_than_the_title_and_passes_it(
    config: Config, inbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (inbox / "trip").mkdir()
    make_image(inbox / "trip" / "1.jpg", width=64, height=48)
    sidecar(inbox / "trip" / "trip.md", body="a" * 91)
    assert check_paths(config, []) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ok    trip"
    assert lines[1].startswith("      warning: @mybrand: caption: 91 UTF-16 units; pqdrop sends it as the photo post's")
