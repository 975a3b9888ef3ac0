"""Whether a media file's end has arrived, read from its structure without decoding it or loading PyAV.

A copy that stalled longer than settle_seconds holds still like a finished one, and a probe of its
first frame may still succeed; only the file's own structure tells that bytes are missing (issue 12).
Each format says where it ends: MP4/MOV/HEIC box sizes and the index box (`moov`, `meta`) that is
written last when the index sits at the end, the WebM Segment's size, the JPEG end marker, the PNG
`IEND` chunk, the WebP RIFF size. The walks read headers, never a frame: a JPEG's entropy-coded data
is searched for its next marker a MiB at a time, at the speed of a byte search.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pqdrop.descriptors import Refused, open_file

# Matroska/WebM: the EBML header, then the Segment whose size covers the rest of the file.
EBML_ID = b"\x1a\x45\xdf\xa3"
SEGMENT_ID = b"\x18\x53\x80\x67"
MAX_TOP_LEVEL_BOXES = 10_000
MAX_PNG_CHUNKS = 1_000_000
# Boxes that stand at the top of an MP4/MOV/3GP file (ISO/IEC 14496-12, QuickTime's wide/pnot/PICT).
MP4_TOP_LEVEL_BOXES = frozenset(
    {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta", b"moof", b"mfra", b"sidx",
     b"ssix", b"prft", b"emsg", b"pdin", b"pnot", b"PICT", b"junk", b"udta"}
)
ISO_FIRST_BOXES = (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")
# ISO base media brands of HEIF still images (ISO/IEC 23008-12): iPhones write `heic`.
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"})
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# In a JPEG's entropy-coded data 0xFF is followed only by 0x00 (a stuffed byte) or RST0-7; anything
# else is the next marker (ITU T.81, B.1.1.5). 0xFF 0xFF is fill before a marker.
JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
JPEG_EOI, JPEG_SOS = 0xD9, 0xDA
JPEG_END = "JPEG end marker (FFD9)"
JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length field


def container_shortfall(path: Path) -> str | None:
    """What tells that the end of the file has not arrived yet, else None.

    An MP4/MOV/HEIC whose boxes add up to more than the file or whose index box is not there yet, a
    WebM whose Segment is longer than what follows it, a JPEG without its end marker, a PNG without
    IEND, a WebP shorter than its RIFF size. Unknown or broken layouts are left to `probe`.
    """
    try:
        # Never through a link, never a FIFO swapped in since the scan (an open would wait for a writer).
        with os.fdopen(open_file(path), "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size == 0:
                return None  # an empty file is still arriving by its size alone
            head = stream.read(16)
            stream.seek(0)
            if head[4:8] in ISO_FIRST_BOXES:
                return _iso_shortfall(stream, size, heif=head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS)
            if head[:4] == EBML_ID:
                return _cut(_matroska_extent(stream), size)
            if head[:2] == JPEG_SOI:
                return _jpeg_shortfall(stream, size)
            if head[:8] == PNG_SIGNATURE:
                return _png_shortfall(stream, size)
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _cut(8 + int.from_bytes(head[4:8], "little"), size)
    except (OSError, Refused):
        return None  # unreadable now, or not a plain file: probe names the reason when the item is taken
    return None


def _cut(declared: int | None, size: int, what: str = "its container holds") -> str | None:
    if declared is None or declared <= size:
        return None
    return f"{what} {declared:,} bytes but the file has {size:,} (a copy cut short); waiting for the rest"


def _not_yet(what: str) -> str:
    return f"no {what} yet: the end of the file has not arrived"


@dataclass
class _Boxes:
    """What a walk over the top-level boxes found: where the last one ends, and where each type first stands."""

    end: int
    first: dict[bytes, tuple[int, int]] = field(default_factory=dict)  # type -> (offset, size)


def _iso_shortfall(stream: BinaryIO, size: int, *, heif: bool) -> str | None:
    """A cut box, or a missing index: a camera's MP4 keeps its `moov` at the end, after `mdat` (issue 12).

    A recorder still writing leaves `mdat` open (size 0, "to the end of the file") and no `moov`
    at all; a copy that stopped right after `mdat` has box sizes that add up exactly. Neither can be
    played: every sample's place is in the index. A HEIF photo's index is its `meta` box.
    """
    boxes = _walk_boxes(stream, size)
    if boxes is None:
        return None
    cut = _cut(boxes.end, size)
    if cut is not None:
        return cut
    index = (b"meta", b"moov") if heif else (b"moov",)
    if not any(kind in boxes.first for kind in index):
        return _not_yet(f"{index[0].decode()} box")
    if b"mdat" not in boxes.first and not (heif and _meta_holds_data(stream, boxes.first.get(b"meta"))):
        return _not_yet("mdat box (the pictures)")
    return None


def _walk_boxes(stream: BinaryIO, size: int) -> _Boxes | None:
    """The top-level boxes by their declared sizes (ISO/IEC 14496-12, 4.2); None for a layout we do not know.

    The walk stops at the first type that is not a top-level box: bytes after the last real box (a
    tool's padding, a preallocated tail of zeros) are not a box whose size could say anything. Until
    the index is found, a box of a vendor's own printable type that fits in the file is stepped over.
    """
    boxes = _Boxes(0)
    for _ in range(MAX_TOP_LEVEL_BOXES):
        stream.seek(boxes.end)
        header = stream.read(16)
        kind = header[4:8]
        known = kind in MP4_TOP_LEVEL_BOXES
        if len(header) < 8 or not (known or _vendor_box(header, boxes, size)):
            return boxes
        box_size = int.from_bytes(header[:4], "big")
        if box_size == 1:
            if len(header) < 16:
                boxes.end += 16  # a 64-bit size cut off
                return boxes
            box_size = int.from_bytes(header[8:16], "big")
        elif box_size == 0:
            box_size = max(8, size - boxes.end)  # "to the end of the file", as a recorder leaves mdat
        if box_size < 8:
            return None
        boxes.first.setdefault(kind, (boxes.end, box_size))
        boxes.end += box_size
    return None


def _vendor_box(header: bytes, boxes: _Boxes, size: int) -> bool:
    box_size = int.from_bytes(header[:4], "big")
    printable = all(0x20 <= byte < 0x7F for byte in header[4:8])
    indexed = b"moov" in boxes.first or b"meta" in boxes.first
    return printable and not indexed and 8 <= box_size <= size - boxes.end


def _meta_holds_data(stream: BinaryIO, meta: tuple[int, int] | None) -> bool:
    """A HEIF photo may keep its pictures inside `meta` (an `idat` box) instead of in `mdat`."""
    if meta is None:
        return False
    stream.seek(meta[0])
    return b"idat" in stream.read(min(meta[1], 4 * 1024 * 1024))


def _matroska_extent(stream: BinaryIO) -> int | None:
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


def _jpeg_shortfall(stream: BinaryIO, size: int) -> str | None:
    """No end marker (EOI) after the picture's data: the rest of the photo has not arrived.

    The segments before the picture's data are stepped over by their lengths, so an EXIF
    thumbnail's own EOI is never taken for the photo's. A file ending in EOI (give or take zero or
    fill padding) is whole, read from its headers and its last bytes; otherwise the data is
    searched for its EOI, after which may follow what is not the photo's (a phone's trailer, a
    motion photo's clip). Plain reads, never a memory map: a file truncated in place while it is
    read (`head -c … > photo.jpg`) must end a read, not the process (SIGBUS).
    """
    offset, first_scan = 2, True
    while True:
        stream.seek(offset)
        header = stream.read(4)
        if len(header) < 2:
            return _not_yet(JPEG_END)
        if header[0] != 0xFF:
            return None  # not a marker where one must be: a broken file, for probe to name
        marker = header[1]
        if marker == 0xFF:  # fill bytes before a marker
            offset += 1
            continue
        if marker == JPEG_EOI:
            return None
        if marker in JPEG_STANDALONE:
            offset += 2
            continue
        if len(header) < 4:
            return _not_yet(JPEG_END)
        offset += 2 + int.from_bytes(header[2:4], "big")
        if marker == JPEG_SOS:  # the entropy-coded data runs to the next marker
            if offset > size:
                return _not_yet(JPEG_END)
            if first_scan and _ends_with_eoi(stream, max(offset, size - 4096)):
                return None
            first_scan = False
            found = _next_jpeg_marker(stream, offset)
            if found is None:
                return _not_yet(JPEG_END)
            offset = found


def _ends_with_eoi(stream: BinaryIO, start: int) -> bool:
    stream.seek(start)
    return stream.read().rstrip(b"\x00\xff").endswith(b"\xff\xd9")


def _next_jpeg_marker(stream: BinaryIO, offset: int) -> int | None:
    """Where the first marker at or after `offset` stands, reading a MiB at a time; None when the file ends first."""
    stream.seek(offset)
    carry = b""  # the last byte of the previous chunk: a marker's 0xFF may end one chunk and its code start the next
    while chunk := stream.read(1024 * 1024):
        data = carry + chunk
        found = JPEG_NEXT_MARKER.search(data)
        if found is not None:
            return offset - len(carry) + found.start()
        offset += len(chunk)
        carry = data[-1:]
    return None


def _png_shortfall(stream: BinaryIO, size: int) -> str | None:
    """A chunk that runs past the end of the file, or no IEND chunk after the last one (PNG spec 5.3)."""
    offset = len(PNG_SIGNATURE)
    for _ in range(MAX_PNG_CHUNKS):
        if offset + 8 > size:
            return _not_yet("PNG IEND chunk")
        stream.seek(offset)
        header = stream.read(8)
        if not header[4:8].isalpha():
            return None  # not a chunk: a broken file, for probe to name
        end = offset + 12 + int.from_bytes(header[:4], "big")
        if end > size:
            return _cut(end, size, "its PNG chunks hold")
        if header[4:8] == b"IEND":
            return None
        offset = end
    return None
