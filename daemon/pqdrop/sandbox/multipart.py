"""A streaming multipart/form-data parser (RFC 7578), because the `cgi` module is gone in 3.13.

Bytes are pushed in as they arrive; each part's body flows to a writer chosen from its
headers, so a large file part never sits in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import collapse_rfc2231_value

MAX_HEADER_BYTES = 16 * 1024
MAX_BOUNDARY_CHARS = 70  # RFC 2046 section 5.1.1


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class PartInfo:
    """The headers of one form field."""

    name: str
    filename: str | None
    content_type: str | None


PartWriter = Callable[[bytes], None]


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart/form-data Content-Type header."""
    message = Message()
    message["Content-Type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        raise MultipartError("Content-Type must be multipart/form-data")
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= MAX_BOUNDARY_CHARS:
        raise MultipartError("multipart/form-data needs a boundary of 1 to 70 characters")
    return boundary.encode("latin-1")


class MultipartParser:
    """Push parser: `feed` body bytes in order, then `close`; each part goes to `open_part(info)`."""

    def __init__(self, boundary: bytes, open_part: Callable[[PartInfo], PartWriter]) -> None:
        self._delimiter = b"--" + boundary
        self._separator = b"\r\n" + self._delimiter
        self._open_part = open_part
        self._buffer = bytearray()
        self._state = "preamble"
        self._writer: PartWriter | None = None

    def feed(self, data: bytes) -> None:
        """Take the next bytes of the body."""
        if self._state == "done":
            return  # the epilogue is ignored (RFC 2046)
        self._buffer += data
        while self._step():
            pass

    def close(self) -> None:
        """Finish; raise if the closing boundary never came."""
        if self._state != "done":
            raise MultipartError("the body ended before the closing multipart boundary")

    def _step(self) -> bool:
        """Advance the state machine once; False when more bytes are needed."""
        if self._state == "preamble":
            return self._skip_preamble()
        if self._state == "after_delimiter":
            return self._after_delimiter()
        if self._state == "headers":
            return self._headers()
        if self._state == "body":
            return self._body()
        return False

    def _skip_preamble(self) -> bool:
        found = self._buffer.find(self._delimiter)
        if found < 0:
            del self._buffer[: max(0, len(self._buffer) - len(self._delimiter))]
            return False
        del self._buffer[: found + len(self._delimiter)]
        self._state = "after_delimiter"
        return True

    def _after_delimiter(self) -> bool:
        if len(self._buffer) < 2:
            return False
        if self._buffer[:2] == b"--":
            self._buffer.clear()
            self._state = "done"
            return False
        line_end = self._buffer.find(b"\r\n")
        if line_end < 0:
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise MultipartError("no line break after a multipart boundary")
            return False
        if self._buffer[:line_end].strip(b" \t"):
            raise MultipartError("unexpected bytes after a multipart boundary")
        del self._buffer[: line_end + 2]
        self._state = "headers"
        return True

    def _headers(self) -> bool:
        if self._buffer.startswith(b"\r\n"):
            block, consumed = b"", 2
        else:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEADER_BYTES:
                    raise MultipartError(f"part headers longer than {MAX_HEADER_BYTES} bytes")
                return False
            block, consumed = bytes(self._buffer[:end]), end + 4
        del self._buffer[:consumed]
        self._writer = self._open_part(_part_info(block))
        self._state = "body"
        return True

    def _body(self) -> bool:
        found = self._buffer.find(self._separator)
        writer = self._writer
        assert writer is not None
        if found < 0:
            # Keep a tail that could be the start of a separator split across feeds.
            safe = len(self._buffer) - len(self._separator) + 1
            if safe > 0:
                writer(bytes(self._buffer[:safe]))
                del self._buffer[:safe]
            return False
        writer(bytes(self._buffer[:found]))
        del self._buffer[: found + len(self._separator)]
        self._writer = None
        self._state = "after_delimiter"
        return True


def _part_info(block: bytes) -> PartInfo:
    headers = BytesHeaderParser().parsebytes(block)
    if headers.get_content_disposition() != "form-data":
        raise MultipartError("every part needs 'Content-Disposition: form-data'")
    name = headers.get_param("name", header="content-disposition")
    if name is None:
        raise MultipartError("a form-data part has no name")
    content_type = headers.get("Content-Type")
    return PartInfo(
        name=collapse_rfc2231_value(name),
        filename=headers.get_filename(),
        content_type=content_type.split(";")[0].strip().lower() if content_type else None,
    )
