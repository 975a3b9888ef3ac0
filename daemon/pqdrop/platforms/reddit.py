"""Reddit's options; the subreddit is required (reference A8)."""

from pqdrop.platforms.rules import BOOL, TEXT, Platform, choice

PLATFORM = Platform(
    name="reddit",
    label="Reddit",
    options={"subreddit": TEXT, "kind": choice("self", "link", "image", "video", "videogif"), "title": TEXT,
             "text": TEXT, "url": TEXT, "flairId": TEXT, "flairText": TEXT, "nsfw": BOOL, "spoiler": BOOL,
             "sendReplies": BOOL, "resubmit": BOOL, "videoPosterUrl": TEXT},
    required=("subreddit",),
)
