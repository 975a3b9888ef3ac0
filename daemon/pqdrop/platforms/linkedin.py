"""LinkedIn's options (reference A8)."""

from pqdrop.platforms.rules import COMMENT, TEXT, Platform, choice

PLATFORM = Platform(
    name="linkedin",
    label="LinkedIn",
    options={"postType": choice("text", "article", "image", "video"), "articleUrl": TEXT, "articleTitle": TEXT,
             "articleDescription": TEXT, "firstComment": COMMENT},
)
