"""The presigned storage PUT: a file's bytes to the URL the API signed, and nothing else.

The URL is its own credential, so this client carries no API key; a refusal's reason keeps
only the storage error's code and message, never the signature storage echoes back.
"""

from __future__ import annotations

import html
import json
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx

from pqdrop.errors import ApiRejected, ApiUnavailable, TransientError
from pqdrop.ratelimit import backoff_delay

CHUNK_BYTES = 1024 * 1024
USER_AGENT = "pqdrop/0.1"

Progress = Callable[[int, int], None]


class Storage:
    """Sends files to presigned URLs with exactly the signed method and headers."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 30.0,
        attempts: int = 5,
        base_seconds: float = 0.5,
        cap_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        timeout = httpx.Timeout(timeout_seconds, write=None)
        self._client = httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT})
        self._attempts = attempts
        self._base_seconds = base_seconds
        self._cap_seconds = cap_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()

    def close(self) -> None:
        self._client.close()

    def put(
        self, method: str, url: str, headers: Mapping[str, str], path: Path, size: int, progress: Progress | None = None
    ) -> None:
        """Stream the file to `url`, retrying passing failures with the whole file."""
        for attempt in range(self._attempts):
            sent_headers = {**headers, "Content-Length": str(size)}
            try:
                body = _read_chunks(path, size, progress)
                reply = self._client.request(method, url, content=body, headers=sent_headers)
            except httpx.TransportError as exc:
                error: TransientError = ApiUnavailable(f"upload of {path.name} to storage broke off: {_describe(exc)}")
            else:
                if reply.is_success:
                    return
                if reply.status_code < 500:
                    raise ApiRejected(
                        f"storage refused the upload of {path.name}: HTTP {reply.status_code} "
                        f"{storage_reason(reply.status_code, reply.text, url)}",
                        status=reply.status_code,
                        code="STORAGE_REFUSED",
                    )
                status = reply.status_code
                error = ApiUnavailable(f"storage answered HTTP {status} for {path.name}", status=status)
            if attempt + 1 < self._attempts:
                self._sleep(backoff_delay(attempt, base=self._base_seconds, cap=self._cap_seconds, rng=self._rng))
        raise error


def _read_chunks(path: Path, size: int, progress: Progress | None) -> Iterator[bytes]:
    """The file in 1 MiB pieces: the upload is the only full read, and nothing else is done per byte."""
    sent = 0
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_BYTES):
            sent += len(chunk)
            if progress is not None:
                progress(sent, size)
            yield chunk


def storage_reason(status: int, body: str, signed_url: str) -> str:
    """Why storage refused, from its JSON or S3-style XML error: code and message only.

    S3 echoes the signature it was given (<SignatureProvided>, <StringToSign>), and a
    presigned signature is a credential until it expires, so the rest of the body is never shown.
    """
    code, message = "", ""
    try:
        payload = json.loads(body)
    except ValueError:
        code, message = _xml_text(body, "Code"), _xml_text(body, "Message")
    else:
        if isinstance(payload, dict):
            code, message = str(payload.get("code") or ""), str(payload.get("error") or payload.get("message") or "")
    reason = ": ".join(part for part in (code, message) if part) or _phrase(status)
    for _, value in parse_qsl(urlsplit(signed_url).query):
        if len(value) >= 8:
            reason = reason.replace(value, "[redacted]")
    return reason[:300]


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "no reason given"


def _xml_text(body: str, element: str) -> str:
    found = re.search(rf"<{element}>([^<]*)</{element}>", body)
    return html.unescape(found.group(1)).strip() if found else ""


def _describe(exc: httpx.TransportError) -> str:
    """A short cause without the request URL, which for storage carries a signature."""
    return f"{type(exc).__name__}: {exc}".split(" for url ")[0]
