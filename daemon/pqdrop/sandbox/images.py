"""An image arriving as the `file` field of a multipart form, checked by its bytes."""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from pqdrop.sandbox.multipart import MultipartError, PartInfo, PartWriter
from pqdrop.sandbox.refusal import Refusal, invalid
from pqdrop.sandbox.storage import BodySink
from pqdrop.sandbox.validation import IMAGE_TYPES, MAX_IMAGE_BYTES, sniff_image_type

FILE_FIELD = "file"
GENERIC_TYPES = ("application/octet-stream",)
# Enough of the start of an image to find its width and height after the EXIF and colour profile.
HEADER_BYTES = 512 * 1024


@dataclass(frozen=True)
class ReceivedImage:
    """A complete, checked image and the sink holding its bytes."""

    filename: str
    content_type: str
    sink: BodySink
    picture: tuple[int, int] | None  # width and height, as TikTok measures them


class ImageReceiver:
    """Routes the `file` part into a BodySink, ignores other fields, then checks what came."""

    def __init__(self, storage_dir: Path | None) -> None:
        self._storage_dir = storage_dir
        self._info: PartInfo | None = None
        self._sink: BodySink | None = None
        self._header = b""

    def open_part(self, info: PartInfo) -> PartWriter:
        """The writer for one form part."""
        if info.name != FILE_FIELD:
            return _ignore
        if self._sink is not None:
            raise MultipartError("the form has more than one 'file' part; send one image per request")
        self._info, self._sink = info, BodySink(self._storage_dir)
        return self._write_file

    def finish(self) -> ReceivedImage:
        """The received image, or a refusal naming what is wrong with it."""
        if self._sink is None or self._info is None:
            raise invalid("file: the form has no 'file' part; send the image as the multipart field 'file'")
        if self._sink.size == 0:
            raise invalid("file: the image is empty")
        sniffed = sniff_image_type(self._sink.head)
        if sniffed is None:
            raise Refusal(415, "UNSUPPORTED_MEDIA_TYPE", "file: the bytes are not a JPEG, PNG or WebP image")
        declared = self._info.content_type
        if declared and declared not in GENERIC_TYPES and declared != sniffed:
            raise Refusal(415, "UNSUPPORTED_MEDIA_TYPE", f"file: declared as {declared} but the bytes are {sniffed}")
        filename = posixpath.basename((self._info.filename or "").replace("\\", "/"))
        name = filename or f"image.{IMAGE_TYPES[sniffed]}"
        return ReceivedImage(name, sniffed, self._sink, picture_size(self._header))

    def discard(self) -> None:
        """Drop any bytes not kept."""
        if self._sink is not None:
            self._sink.discard()

    def _write_file(self, chunk: bytes) -> None:
        assert self._sink is not None
        if self._sink.size + len(chunk) > MAX_IMAGE_BYTES:
            raise Refusal(413, "PAYLOAD_TOO_LARGE", f"file: images may be at most {MAX_IMAGE_BYTES} bytes (20 MB)")
        self._sink.write(chunk)
        if len(self._header) < HEADER_BYTES:
            self._header += chunk[: HEADER_BYTES - len(self._header)]


def _ignore(chunk: bytes) -> None:
    """Fields other than `file` are accepted and dropped."""


def picture_size(header: bytes) -> tuple[int, int] | None:
    """Width and height from the start of an image file; None when they are not in it."""
    try:
        with Image.open(io.BytesIO(header)) as picture:
            return picture.size
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return None
