"""Instagram's options (reference A8, from PostQued's publishing targets)."""

from pqdrop.platforms.rules import COMMENT, Option, Platform, choice

PLATFORM = Platform(
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
