"""Which upload tickets pqdrop sends a file to (pure): https, or http only between loopback ends."""

from __future__ import annotations

import pytest

from pqdrop.postqued.tickets import BadTicket, check_ticket
from pqdrop.postqued.types import UploadTicket

SIGNED = "?X-Amz-Signature=0123456789abcdef"


def ticket(url: str, method: str = "PUT", **headers: str) -> UploadTicket:
    return UploadTicket("c1", "k1", url, method, headers)


@pytest.mark.parametrize(("api", "url"), [
    ("https://api.postqued.com", "https://bucket.r2.example/clip.mp4" + SIGNED),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/_storage/clip.mp4"),
    ("http://localhost:8080", "http://[::1]:9000/clip.mp4"),
    ("http://127.0.0.1:8080", "https://bucket.r2.example/clip.mp4"),
])
def test_https_tickets_and_plain_http_between_loopback_ends_are_taken(api: str, url: str) -> None:
    check_ticket(ticket(url, **{"Content-Type": "video/mp4", "x-amz-meta-name": "caf\u00e9\tclip"}), api, "here")


def test_a_plain_http_ticket_from_an_https_api_is_refused_without_its_signature() -> None:
    with pytest.raises(BadTicket) as refused:
        check_ticket(ticket("http://bucket.r2.example/clip.mp4" + SIGNED), "https://api.postqued.com", "here")
    assert refused.value.message == (
        "here: PostQued handed a plain http:// upload URL ('http://bucket.r2.example/clip.mp4'); pqdrop sends files "
        "only over https (plain http only to a local sandbox, when the API itself is http on loopback)"
    )


@pytest.mark.parametrize(("api", "url"), [
    ("http://127.0.0.1:8080", "http://192.0.2.7/clip.mp4"),  # a loopback API cannot send files elsewhere in clear
    ("http://api.example", "http://api.example/clip.mp4"),  # a plain http API off this machine
])
def test_plain_http_off_loopback_is_refused(api: str, url: str) -> None:
    with pytest.raises(BadTicket, match="plain http:// upload URL"):
        check_ticket(ticket(url), api, "here")


@pytest.mark.parametrize(("the_ticket", "words"), [
    (ticket("https://s.example/k", "GET"), "by method 'GET'; a presigned upload is POST or PUT"),
    (ticket("https://s.example/k", **{"Bad Name": "x"}), "the upload header name 'Bad Name'"),
    (ticket("https://s.example/k", **{"X-A": "a\nb"}), "the upload header X-A PostQued handed holds a line break"),
    (ticket("https://s.example/k", **{"X-A": "a\0b"}), "holds a line break or control character: 'a\\x00b'"),
    (ticket("https://s.example/k\r\nHost: evil"), "holds spaces or control characters"),
    (ticket("https://s.example:0/k"), "names no host or port"),
    (ticket("gopher://s.example/k"), "an upload URL of scheme 'gopher'"),
    (ticket("s.example/k"), "an upload URL of scheme 'none'"),
])
def test_a_bad_ticket_names_what_is_wrong(the_ticket: UploadTicket, words: str) -> None:
    with pytest.raises(BadTicket) as refused:
        check_ticket(the_ticket, "https://api.postqued.com", "here")
    assert words in refused.value.message
    assert refused.value.code == "BAD_UPLOAD_TICKET"
