"""An image arriving as the `file` field of a multipart form, checked by its bytes."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

from pqdrop.sandbox.multipart import MultipartError, PartInfo, PartWriter
from pqdrop.sandbox.refusal import Refusal, invalid
from pqdrop.sandbox.storage import BodySink
from pqdrop.sandbox.validation import IMAGE_TYPES, MAX_IMAGE_BYTES, sniff_image_type

FILE_FIELD = "file"
GENERIC_TYPES = ("application/octet-stream",)


@dataclass(frozen=True)
class ReceivedImage:
    """A complete, checked image and the sink holding its bytes."""

    filename: str
    content_type: str
    sink: BodySink


class ImageReceiver:
    """Routes the `file` part into a BodySink, ignores other fields, then checks what came."""

    def __init__(self, storage_dir: Path | None) -> None:
        self._storage_dir = storage_dir
        self._info: PartInfo | None = None
        self._sink: BodySink | None = None

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
        return ReceivedImage(filename or f"image.{IMAGE_TYPES[sniffed]}", sniffed, self._sink)

    def discard(self) -> None:
        """Drop any bytes not kept."""
        if self._sink is not None:
            self._sink.discard()

    def _write_file(self, chunk: bytes) -> None:
        assert self._sink is not None
        if self._sink.size + len(chunk) > MAX_IMAGE_BYTES:
            raise Refusal(413, "PAYLOAD_TOO_LARGE", f"file: images may be at most {MAX_IMAGE_BYTES} bytes (20 MB)")
        self._sink.write(chunk)


def _ignore(chunk: bytes) -> None:
    """Fields other than `file` are accepted and dropped."""
