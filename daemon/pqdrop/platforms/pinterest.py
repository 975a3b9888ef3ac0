"""Pinterest's options; the board is required and never guessed (reference A8)."""

from pqdrop.platforms.rules import BOOL, TEXT, Platform

PLATFORM = Platform(
    name="pinterest",
    label="Pinterest",
    options={"boardId": TEXT, "boardSectionId": TEXT, "title": TEXT, "description": TEXT, "link": TEXT,
             "altText": TEXT, "coverImageUrl": TEXT, "isStandard": BOOL},
    required=("boardId",),
)
