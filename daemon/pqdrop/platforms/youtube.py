"""YouTube's options (reference A8)."""

from pqdrop.platforms.rules import BOOL, COMMENT, TEXT, Option, Platform, choice

PLATFORM = Platform(
    name="youtube",
    label="YouTube",
    options={"visibility": choice("public", "unlisted", "private"), "title": TEXT, "description": TEXT,
             "categoryId": TEXT, "tags": Option("texts", max_items=30), "madeForKids": BOOL,
             "containsSyntheticMedia": BOOL, "firstComment": COMMENT},
)
