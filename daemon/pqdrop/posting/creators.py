"""What each TikTok account allows, from TikTok's creator info, kept per account for a short while.

TikTok asks clients to read creator info right before posting (T1, T7): the privacy levels the
account offers, its own maximum video length, and whether comments, duets and stitches are off.
PostQued's v2 API relays it (`GET /v2/integrations/{id}/creator-info`); v1 cannot tell, and then
the checks are skipped and the log says so once. The answer is kept `LIFETIME` per account: long
enough that a carousel of items costs one request per account, short enough that a setting the
creator changes in the app counts within minutes.

The API client feeds it: any client with a `creator_info(account_id)` method returning the raw
reply (a mapping, or None when its dialect has no such route) is asked; pqdrop.tiktok parses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pqdrop.errors import TransientError
from pqdrop.platforms.tiktok import CreatorInfo, parse_creator_info

log = logging.getLogger("pqdrop")

LIFETIME = timedelta(minutes=10)
Fetch = Callable[[str], Mapping[str, Any] | None]
SKIPPED = (
    "the API in use cannot tell an account's own TikTok rules (creator info needs PostQued v2): privacy choices, "
    "maximum video length and switched-off comments, duets and stitches are not checked before posting"
)


class CreatorInfos:
    """Creator info per account id, fetched when missing or older than `lifetime`; None when the API cannot tell."""

    def __init__(self, fetch: Fetch | None, clock: Callable[[], datetime], lifetime: timedelta = LIFETIME) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lifetime = lifetime
        self._known: dict[str, tuple[datetime, CreatorInfo | None]] = {}
        self._lock = threading.Lock()
        self._said_skipped = False

    def put(self, account_id: str, info: CreatorInfo | None) -> None:
        """Keep what the API said of an account (v2's client may feed answers it already has)."""
        with self._lock:
            self._known[account_id] = (self._clock(), info)

    def get(self, account_id: str) -> CreatorInfo | None:
        """The account's creator info, from the cache while fresh; None when it cannot be known now."""
        with self._lock:
            held = self._known.get(account_id)
        if held is not None and self._clock() - held[0] < self._lifetime:
            return held[1]
        if self._fetch is None:
            self._skipped()
            return None
        try:
            raw = self._fetch(account_id)
        except TransientError as exc:
            # TikTok has the last word at publish anyway; a slow creator-info read must not hold the post.
            log.warning("creator info of %s cannot be read now (%s); its own rules are checked by TikTok", account_id,
                        exc.message)
            return None
        info = parse_creator_info(raw) if raw is not None else None
        if info is None:
            self._skipped()
        self.put(account_id, info)
        return info

    def _skipped(self) -> None:
        with self._lock:
            if self._said_skipped:
                return
            self._said_skipped = True
        log.info("%s", SKIPPED)


def fetcher_of(client: object) -> Fetch | None:
    """The client's creator-info call, when its API dialect has one (PostQued v2)."""
    fetch = getattr(client, "creator_info", None)
    return fetch if callable(fetch) else None
