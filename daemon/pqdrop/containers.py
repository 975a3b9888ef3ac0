"""Container structure read without decoding or PyAV: whether a video's data runs past the end of its file.

A copy that stalled longer than settle_seconds holds still like a finished one, and its header
(at the front of a faststart MP4) still promises every frame; only the sizes the container
declares for its boxes, compared with the file's, tell that it was cut short (issue 12). The
walk reads a few header bytes per top-level box, so it costs the same for 1 MB or 4 GB.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

# Matroska/WebM: the EBML header, then the Segment whose size covers the rest of the file.
EBML_ID = b"\x1a\x45\xdf\xa3"
SEGMENT_ID = b"\x18\x53\x80\x67"
MAX_TOP_LEVEL_BOXES = 10_000
# Boxes that stand at the top of an MP4/MOV/3GP file (ISO/IEC 14496-12, QuickTime's wide/pnot/PICT).
MP4_TOP_LEVEL_BOXES = frozenset(
    {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta", b"moof", b"mfra", b"sidx",
     b"ssix", b"prft", b"emsg", b"pdin", b"pnot", b"PICT", b"junk", b"udta"}
)


def container_shortfall(path: Path) -> str | None:
    """What is missing when the container says its data runs past the end of the file, else None.

    Reads only box and element headers (a few bytes each, never a frame): an MP4/MOV whose boxes
    add up to more than the file, or a WebM whose Segment is longer than what follows it, was cut
    short in transit (issue 12). Unknown layouts are left to `probe`.
    """
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            head = stream.read(8)
            stream.seek(0)
            if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
                declared = _mp4_extent(stream, size)
            elif head[:4] == EBML_ID:
                declared = _matroska_extent(stream, size)
            else:
                return None
    except OSError:
        return None  # unreadable now: probe names the reason when the item is taken
    if declared is None or declared <= size:
        return None
    return f"its container holds {declared:,} bytes but the file has {size:,} (a copy cut short); waiting for the rest"


def _mp4_extent(stream: BinaryIO, size: int) -> int | None:
    """Where the last top-level box ends, by its declared size (ISO/IEC 14496-12, 4.2).

    The walk stops at the first type that is not a top-level box: bytes after the last real box
    (a tool's padding) are not a box whose size could say anything.
    """
    offset = 0
    for _ in range(MAX_TOP_LEVEL_BOXES):
        stream.seek(offset)
        header = stream.read(16)
        if len(header) < 8 or header[4:8] not in MP4_TOP_LEVEL_BOXES:
            return offset
        box_size = int.from_bytes(header[:4], "big")
        if box_size == 1:
            if len(header) < 16:
                return offset + 16  # a 64-bit size cut off
            box_size = int.from_bytes(header[8:16], "big")
        elif box_size == 0:
            return size  # "to the end of the file": nothing to compare
        if box_size < 8:
            return None  # not a box structure we know; probe decides
        offset += box_size
    return None


def _matroska_extent(stream: BinaryIO, size: int) -> int | None:
    """Where the Segment ends, by its declared size; None for a live stream's unknown size."""
    stream.seek(0)
    data = stream.read(64 * 1024)
    header = _ebml_element(data, 0)
    if header is None:
        return None
    _, header_size, header_end = header
    if header_size is None:
        return None
    segment = _ebml_element(data, header_end + header_size)
    if segment is None or data[header_end + header_size:header_end + header_size + 4] != SEGMENT_ID:
        return None
    _, segment_size, segment_start = segment
    return None if segment_size is None else segment_start + segment_size


def _ebml_element(data: bytes, offset: int) -> tuple[bytes, int | None, int] | None:
    """(id, size or None when unknown, offset of the data) of the EBML element at `offset`."""
    if offset >= len(data):
        return None
    id_length = _vint_length(data[offset])
    if id_length is None or offset + id_length >= len(data):
        return None
    element_id = data[offset:offset + id_length]
    size_at = offset + id_length
    size_length = _vint_length(data[size_at])
    if size_length is None or size_at + size_length > len(data):
        return None
    raw = data[size_at:size_at + size_length]
    value = raw[0] & (0xFF >> size_length)
    for byte in raw[1:]:
        value = (value << 8) | byte
    unknown = value == (1 << (7 * size_length)) - 1
    return element_id, None if unknown else value, size_at + size_length


def _vint_length(first: int) -> int | None:
    for length in range(1, 9):
        if first & (0x80 >> (length - 1)):
            return length
    return None
