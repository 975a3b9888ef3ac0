"""The option tables of the platforms beside TikTok, one `Platform` each (reference A8, from PostQued's
publishing targets). TikTok's own table lives with its rules in `tiktok.py`.

Data only: `rules.py` says what each kind of option accepts, `__init__` looks a table up by name.
"""

from pqdrop.platforms.rules import BOOL, COMMENT, TEXT, Option, Platform, choice

# Instagram's options (reference A8, from PostQued's publishing targets).
INSTAGRAM = Platform(
    name="instagram",
    label="Instagram",
    options={
        "postType": choice("post", "reel", "story"),
        "collaborators": Option("texts", max_items=3),
        "trialReelGraduationStrategy": choice("MANUAL", "SS_PERFORMANCE"),
        "firstComment": COMMENT,
        "crop": Option("object", fields=("x", "y", "width", "height", "zoom", "aspect", "focalPoint")),
        "audio": Option("object", fields=("selectionToken", "music", "original_sound", "title", "artist", "duration",
                                          "volumes")),
    },
)

# Facebook's options (reference A8).
FACEBOOK = Platform(
    name="facebook",
    label="Facebook",
    options={"postType": choice("text", "photo", "video", "reel", "link"), "link": TEXT, "title": TEXT,
             "firstComment": COMMENT},
)

# Threads' options (reference A8).
THREADS = Platform(
    name="threads",
    label="Threads",
    options={"replyControl": choice("everyone", "accounts_you_follow", "mentioned_only"), "firstComment": COMMENT},
)

# LinkedIn's options (reference A8).
LINKEDIN = Platform(
    name="linkedin",
    label="LinkedIn",
    options={"postType": choice("text", "article", "image", "video"), "articleUrl": TEXT, "articleTitle": TEXT,
             "articleDescription": TEXT, "firstComment": COMMENT},
)

# YouTube's options (reference A8).
YOUTUBE = Platform(
    name="youtube",
    label="YouTube",
    options={"visibility": choice("public", "unlisted", "private"), "title": TEXT, "description": TEXT,
             "categoryId": TEXT, "tags": Option("texts", max_items=30), "madeForKids": BOOL,
             "containsSyntheticMedia": BOOL, "firstComment": COMMENT},
)

# X's options; the API calls the platform `twitter` (reference A8).
TWITTER = Platform(
    name="twitter",
    label="X (twitter)",
    options={"replySettings": choice("everyone", "mentionedUsers", "following"), "firstComment": COMMENT},
)

# Pinterest's options; the board is required and never guessed (reference A8).
PINTEREST = Platform(
    name="pinterest",
    label="Pinterest",
    options={"boardId": TEXT, "boardSectionId": TEXT, "title": TEXT, "description": TEXT, "link": TEXT,
             "altText": TEXT, "coverImageUrl": TEXT, "isStandard": BOOL},
    required=("boardId",),
)

# Reddit's options; the subreddit is required (reference A8).
REDDIT = Platform(
    name="reddit",
    label="Reddit",
    options={"subreddit": TEXT, "kind": choice("self", "link", "image", "video", "videogif"), "title": TEXT,
             "text": TEXT, "url": TEXT, "flairId": TEXT, "flairText": TEXT, "nsfw": BOOL, "spoiler": BOOL,
             "sendReplies": BOOL, "resubmit": BOOL, "videoPosterUrl": TEXT},
    required=("subreddit",),
)

# Mastodon's options (reference A8).
MASTODON = Platform(
    name="mastodon",
    label="Mastodon",
    options={"visibility": choice("public", "unlisted", "private", "direct"), "sensitive": BOOL, "spoilerText": TEXT,
             "language": TEXT, "firstComment": COMMENT},
)

# Bluesky takes no options (reference A8).
BLUESKY = Platform(name="bluesky", label="Bluesky", options={})
