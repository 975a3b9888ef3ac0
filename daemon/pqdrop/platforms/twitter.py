"""X's options; the API calls the platform `twitter` (reference A8)."""

from pqdrop.platforms.rules import COMMENT, Platform, choice

PLATFORM = Platform(
    name="twitter",
    label="X (twitter)",
    options={"replySettings": choice("everyone", "mentionedUsers", "following"), "firstComment": COMMENT},
)
