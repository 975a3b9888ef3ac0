"""Small, real media files for `pqdrop demo` and the tests, encoded with PyAV.

Pictures are built from raw bytes, so NumPy is not needed; the content is a cheap moving
ramp, because callers make long clips and only the container facts matter.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
from av.video.codeccontext import VideoCodecContext
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

# Encoder preference per video suffix, with the options that make each one fast.
VIDEO_ENCODERS: dict[str, tuple[tuple[str, dict[str, str]], ...]] = {
    ".mp4": (("libx264", {"preset": "ultrafast"}), ("mpeg4", {})),
    ".mov": (("libx264", {"preset": "ultrafast"}), ("mpeg4", {})),
    ".webm": (
        ("libvpx", {"deadline": "realtime", "cpu-used": "8"}),
        ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8"}),
    ),
}

# Image encoder and the pixel format it takes, per suffix.
IMAGE_ENCODERS: dict[str, tuple[str, str]] = {
    ".jpg": ("mjpeg", "yuvj420p"),
    ".jpeg": ("mjpeg", "yuvj420p"),
    ".png": ("png", "rgb24"),
    ".webp": ("libwebp", "yuv420p"),
}

# One period of the luma ramp; frames slice a shifted window out of repeats of it.
RAMP = bytes((x * 2) & 0xFF for x in range(128))


def make_video(
    path: Path,
    *,
    width: int = 360,
    height: int = 640,
    seconds: float = 1.0,
    fps: int = 25,
    rotation: int = 0,
) -> Path:
    """Write a clip whose container (.mp4, .mov, .webm) follows the suffix; return `path`.

    The default size is portrait at TikTok's smallest side, so a default clip passes preflight.

    `rotation` is clockwise degrees, written as the stream's display matrix (the MP4/MOV
    `tkhd` matrix, Matroska's projection roll), so players and `media.probe` turn it.
    """
    codec, options = _video_encoder(path)
    _check_video_args(width, height, seconds, fps, rotation)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        assert isinstance(stream, VideoStream)  # every VIDEO_ENCODERS entry is a video codec
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation:
            # PyAV's angle is counter-clockwise (as VideoFrame.rotation reads back).
            stream.set_display_rotation(-rotation)
        for index in range(max(1, round(seconds * fps))):
            for packet in stream.encode(_video_frame(width, height, index)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_image(path: Path, *, width: int = 640, height: int = 480) -> Path:
    """Write a still picture whose format (.jpg/.jpeg, .png, .webp) follows the suffix; return `path`."""
    suffix = path.suffix.lower()
    if suffix not in IMAGE_ENCODERS:
        raise ValueError(f"cannot make an image with suffix {suffix!r}; use one of {sorted(IMAGE_ENCODERS)}")
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    codec, pix_fmt = IMAGE_ENCODERS[suffix]
    encoder = av.CodecContext.create(codec, "w")
    assert isinstance(encoder, VideoCodecContext)  # every IMAGE_ENCODERS entry is a video codec
    encoder.width, encoder.height, encoder.pix_fmt = width, height, pix_fmt
    encoder.time_base = Fraction(1, 25)
    frame = _image_frame(width, height).reformat(format=pix_fmt)
    packets = encoder.encode(frame) + encoder.encode(None)
    # Each of these encoders emits one packet that is a complete file (JPEG/PNG/RIFF
    # WebP); FFmpeg's image2 muxer writes exactly these bytes too.
    path.write_bytes(b"".join(bytes(packet) for packet in packets))
    return path


def _video_encoder(path: Path) -> tuple[str, dict[str, str]]:
    """Pick the first encoder this PyAV build has for the file's suffix."""
    suffix = path.suffix.lower()
    if suffix not in VIDEO_ENCODERS:
        raise ValueError(f"cannot make a video with suffix {suffix!r}; use one of {sorted(VIDEO_ENCODERS)}")
    for codec, options in VIDEO_ENCODERS[suffix]:
        if codec in av.codecs_available:
            return codec, options
    raise RuntimeError(f"this PyAV build has no encoder for {suffix} files")


def _check_video_args(width: int, height: int, seconds: float, fps: int, rotation: int) -> None:
    """Refuse arguments the encoders would reject less clearly."""
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        # 4:2:0 chroma halves each dimension, so H.264 and VP8 need even sizes.
        raise ValueError(f"video size must be positive and even, got {width}x{height}")
    if seconds <= 0 or fps <= 0:
        raise ValueError(f"seconds and fps must be positive, got {seconds} s at {fps} fps")
    if rotation not in (0, 90, 180, 270):
        raise ValueError(f"rotation must be 0, 90, 180 or 270, got {rotation}")


def _video_frame(width: int, height: int, index: int) -> VideoFrame:
    """Return frame `index`: a luma ramp shifted sideways each frame over a fixed tint."""
    frame = VideoFrame(width, height, "yuv420p")
    luma = frame.planes[0]
    shift = (index * 4) % len(RAMP)
    row = (RAMP * (luma.line_size // len(RAMP) + 2))[shift : shift + luma.line_size]
    luma.update(row * height)
    for plane, value in zip(frame.planes[1:], (90, 200), strict=False):
        plane.update(bytes([value]) * plane.buffer_size)
    frame.pts = index
    return frame


def _image_frame(width: int, height: int) -> VideoFrame:
    """Return an RGBA picture: red rises left to right, green steps down in bands."""
    row = bytearray(b"".join(bytes((x * 255 // max(1, width - 1), 0, 160, 255)) for x in range(width)))
    band_height = max(1, -(-height // 8))
    bands = []
    for band_top in range(0, height, band_height):
        row[1::4] = bytes([min(255, band_top * 255 // height)]) * width
        bands.append(bytes(row) * min(band_height, height - band_top))
    return VideoFrame.from_bytes(b"".join(bands), width, height, "rgba")
