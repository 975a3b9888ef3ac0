"""Facebook's options (reference A8)."""

from pqdrop.platforms.rules import COMMENT, TEXT, Platform, choice

PLATFORM = Platform(
    name="facebook",
    label="Facebook",
    options={"postType": choice("text", "photo", "video", "reel", "link"), "link": TEXT, "title": TEXT,
             "firstComment": COMMENT},
)
