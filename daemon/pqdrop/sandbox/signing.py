"""Presigned storage URLs: an HMAC over what the upload may be, checked when the bytes arrive."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import urlencode

EXPIRES_PARAM = "X-Pq-Expires"
SIGNATURE_PARAM = "X-Pq-Signature"


class UrlSigner:
    """Signs method, path, Content-Type, Content-Length and expiry, like an S3 presigned PUT."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def query(self, path: str, content_type: str, size: int, expires_at: int) -> str:
        """The query string that makes `path` a presigned URL."""
        signature = self._signature(path, content_type, size, expires_at)
        return urlencode({EXPIRES_PARAM: str(expires_at), SIGNATURE_PARAM: signature})

    def matches(self, path: str, query: Mapping[str, str], content_type: str, size: int) -> bool:
        """Whether the query's signature covers exactly this path, Content-Type and size."""
        try:
            expires_at = int(query[EXPIRES_PARAM])
        except (KeyError, ValueError):
            return False
        expected = self._signature(path, content_type, size, expires_at)
        return hmac.compare_digest(expected, query.get(SIGNATURE_PARAM, ""))

    def _signature(self, path: str, content_type: str, size: int, expires_at: int) -> str:
        message = "\n".join(("PUT", path, content_type, str(size), str(expires_at)))
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()


def expires_at(query: Mapping[str, str]) -> int | None:
    """The expiry a presigned query names, or None when it names none."""
    try:
        return int(query[EXPIRES_PARAM])
    except (KeyError, ValueError):
        return None
