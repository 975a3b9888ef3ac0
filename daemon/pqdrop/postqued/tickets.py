"""Whether an upload ticket from the API is one pqdrop will send a file to (pure).

A ticket names where the user's file goes; a wrong one must not send it elsewhere, nor in clear,
nor crash the upload (issue 21): `file://` and `ftp://` went out as plain HTTP, an `http://` URL from
an `https://` API went out without a word, and a line break in a header or a bad port was
"unexpected error (please report it)". What is wrong is the API's fault: said so, asked again.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from pqdrop.errors import ApiUnavailable
from pqdrop.postqued.types import UploadTicket

METHODS = frozenset({"PUT", "POST"})  # what a presigned upload is signed for
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # a header name (RFC 9110 5.6.2)
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # CR, LF, NUL and the other controls; a tab is allowed


class BadTicket(ApiUnavailable):
    """The API handed an upload ticket pqdrop will not use; asked again, it may hand a good one."""

    code = "BAD_UPLOAD_TICKET"


def check_ticket(ticket: UploadTicket, api_base_url: str, where: str) -> None:
    """Raise BadTicket, naming what is wrong, unless `ticket` is an https URL (http only when the API is
    plain http on loopback and so is the URL, as the sandbox is) with a sane method and headers."""
    url = ticket.url
    if _UNSAFE_VALUE.search(url) or " " in url:
        raise BadTicket(f"{where}: the upload URL PostQued handed holds spaces or control characters: {_shown(url)}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadTicket(f"{where}: the upload URL PostQued handed is not a usable URL ({exc}): {_shown(url)}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BadTicket(f"{where}: PostQued handed an upload URL of scheme {scheme or 'none'!r} ({_where(url)}); "
                        "pqdrop sends files only to https:// URLs")
    if not parts.hostname or port == 0:
        raise BadTicket(f"{where}: the upload URL PostQued handed names no host or port to send to: {_shown(url)}")
    api = urlsplit(api_base_url)
    if scheme == "http" and not (api.scheme == "http" and _loopback(api.hostname) and _loopback(parts.hostname)):
        raise BadTicket(
                f"{where}: PostQued handed a plain http:// upload URL ({_where(url)}); pqdrop sends files only over "
                "https (plain http only to a local sandbox, when the API itself is http on loopback)"
            )
    if ticket.method not in METHODS:
        raise BadTicket(f"{where}: PostQued asked for the upload by method {_shown(ticket.method)}; "
                        f"a presigned upload is {' or '.join(sorted(METHODS))}")
    for name, value in ticket.headers.items():
        if not _TOKEN.fullmatch(name):
            raise BadTicket(f"{where}: the upload header name {_shown(name)} PostQued handed is not a header name")
        if _UNSAFE_VALUE.search(value):
            raise BadTicket(f"{where}: the upload header {name} PostQued handed holds a line break or control "
                            f"character: {_shown(value)}")


def _loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _where(url: str) -> str:
    """scheme://host/path of a URL: its query may carry a signature, which is a credential."""
    parts = urlsplit(url)
    return _shown(f"{parts.scheme}://{parts.netloc}{parts.path}")


def _shown(text: str) -> str:
    """At most 120 characters, control characters escaped: the API's words as they came, on one line."""
    cut = text.split("?", 1)[0] if "?" in text and "://" in text else text
    return repr(cut[:120])
