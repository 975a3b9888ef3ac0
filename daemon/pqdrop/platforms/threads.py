"""Threads' options (reference A8)."""

from pqdrop.platforms.rules import COMMENT, Platform, choice

PLATFORM = Platform(
    name="threads",
    label="Threads",
    options={"replyControl": choice("everyone", "accounts_you_follow", "mentioned_only"), "firstComment": COMMENT},
)
