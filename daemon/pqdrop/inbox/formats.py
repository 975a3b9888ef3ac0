"""Which files the inbox takes as media, by suffix, and what pqdrop says of the formats it refuses.

A suffix decides only whether a file is media at all; `media.probe` then reads what the file really
holds. A format TikTok does not take is refused at once by name, never left "waiting for media"
beside its sidecar (issue 12), so the user learns what to do with it.
"""

from __future__ import annotations

# TikTok takes MP4, MOV and WebM (reference B4). `.m4v` is Apple's name for an MP4 (HandBrake,
# Final Cut, iTunes exports): the same ISO container and brand family, so it goes up as video/mp4.
VIDEO_SUFFIXES: frozenset[str] = frozenset({".mp4", ".m4v", ".mov", ".webm"})
# HEIC/HEIF (iPhone photos) and PNG are converted to JPEG before upload (photos.py).
IMAGE_SUFFIXES: frozenset[str] = frozenset({".jpg", ".jpeg", ".webp", ".png", ".heic", ".heif"})
MEDIA_SUFFIXES: frozenset[str] = VIDEO_SUFFIXES | IMAGE_SUFFIXES
# Photos a camera or an editor writes that TikTok does not take and pqdrop does not convert.
UNCONVERTIBLE_PHOTO_SUFFIXES: frozenset[str] = frozenset(
    {".gif", ".tif", ".tiff", ".bmp", ".avif", ".jxl", ".psd", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf",
     ".orf", ".rw2", ".svg"}
)
# Videos in containers TikTok does not take (camcorders' AVCHD .mts/.m2ts, Matroska, AVI, Windows Media,
# Flash, old phones' 3GPP, DVD and broadcast MPEG): pqdrop does not transcode, so they are refused by name.
UNSUPPORTED_VIDEO_SUFFIXES: frozenset[str] = frozenset(
    {".mkv", ".avi", ".mts", ".m2ts", ".ts", ".wmv", ".asf", ".flv", ".f4v", ".3gp", ".3g2", ".mpg", ".mpeg",
     ".vob", ".ogv", ".divx", ".rm", ".rmvb"}
)
# Files that make an item of their own (so a sidecar beside them is not left waiting) but are never posted.
REFUSED_SUFFIXES: frozenset[str] = UNCONVERTIBLE_PHOTO_SUFFIXES | UNSUPPORTED_VIDEO_SUFFIXES


def refusal(shown_name: str, suffix: str) -> str | None:
    """Why a file with this (lower-case) suffix cannot be posted, and what to do instead; None if it may be."""
    kind = suffix.lstrip(".").upper()
    if suffix in UNCONVERTIBLE_PHOTO_SUFFIXES:
        return (f"{shown_name}: pqdrop cannot post {kind} files; TikTok takes JPEG and WebP photos "
                "(pqdrop converts PNG and HEIC itself): export it as JPEG")
    if suffix in UNSUPPORTED_VIDEO_SUFFIXES:
        return (f"{shown_name}: pqdrop cannot post {kind} files; TikTok takes MP4, MOV and WebM videos: "
                "convert it to MP4 with H.264 video and AAC sound (ffmpeg -i IN -c:v libx264 -c:a aac OUT.mp4)")
    return None
