"""Presigned storage URLs: an HMAC over what the upload may be, checked when the bytes arrive.

The query reads like S3's SigV4 presigned URL: X-Amz-Date (when it was signed), X-Amz-Expires
(its lifetime in seconds, at most a week) and X-Amz-Signature. Like S3, a URL without a
lifetime is refused, and one past it answers 403 "Request has expired".
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import urlencode

DATE_PARAM = "X-Amz-Date"
EXPIRES_PARAM = "X-Amz-Expires"
SIGNATURE_PARAM = "X-Amz-Signature"
MAX_LIFETIME_SECONDS = 604800  # S3: "X-Amz-Expires must be less than a week (in seconds) that is; 604800"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"


class UrlSigner:
    """Signs method, path, Content-Type, Content-Length, signing time and lifetime, like an S3 presigned PUT."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def query(self, path: str, content_type: str, size: int, signed_at: float, lifetime: int) -> str:
        """The query string that makes `path` a presigned URL valid for `lifetime` seconds from `signed_at`."""
        date = datetime.fromtimestamp(int(signed_at), UTC).strftime(DATE_FORMAT)
        signature = self._signature(path, content_type, size, date, str(lifetime))
        return urlencode({DATE_PARAM: date, EXPIRES_PARAM: str(lifetime), SIGNATURE_PARAM: signature})

    def matches(self, path: str, query: Mapping[str, str], content_type: str, size: int) -> bool:
        """Whether the query's signature covers exactly this path, Content-Type, size, date and lifetime."""
        date, lifetime = query.get(DATE_PARAM, ""), query.get(EXPIRES_PARAM, "")
        expected = self._signature(path, content_type, size, date, lifetime)
        return hmac.compare_digest(expected, query.get(SIGNATURE_PARAM, ""))

    def _signature(self, path: str, content_type: str, size: int, date: str, lifetime: str) -> str:
        message = "\n".join(("PUT", path, content_type, str(size), date, lifetime))
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()


def expires_at(query: Mapping[str, str]) -> float | None:
    """The instant (epoch seconds) a presigned query stops being good, or None when it states no lifetime."""
    try:
        signed = datetime.strptime(query[DATE_PARAM], DATE_FORMAT).replace(tzinfo=UTC).timestamp()
        lifetime = int(query[EXPIRES_PARAM])
    except (KeyError, ValueError):
        return None
    return signed + lifetime


def lifetime_problem(query: Mapping[str, str]) -> str | None:
    """S3's complaint about a lifetime out of range, or None when it is good."""
    try:
        lifetime = int(query[EXPIRES_PARAM])
    except (KeyError, ValueError):
        return "X-Amz-Expires must be a number of seconds"
    if not 1 <= lifetime <= MAX_LIFETIME_SECONDS:
        return f"X-Amz-Expires must be less than a week (in seconds) that is; {MAX_LIFETIME_SECONDS}"
    return None
