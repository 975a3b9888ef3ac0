"""Mastodon's options (reference A8)."""

from pqdrop.platforms.rules import BOOL, COMMENT, TEXT, Platform, choice

PLATFORM = Platform(
    name="mastodon",
    label="Mastodon",
    options={"visibility": choice("public", "unlisted", "private", "direct"), "sensitive": BOOL, "spoilerText": TEXT,
             "language": TEXT, "firstComment": COMMENT},
)
