"""The API key kept out of every text pqdrop sends or writes, whatever put it there (issue 21).

Defense in depth: the key is meant to go only into the Authorization header, yet a sidecar may
hold it (a stranger's link to the key file, a person pasting it), and so may a config's default
caption. Every key the API client is given is registered here, once per process, and every request
body, status file and status.log line is looked through for it before it leaves: a post holding it
fails naming where, a status text gets it withheld.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

WITHHELD_MARK = "[withheld: the API key]"
MIN_SECRET_CHARS = 8  # shorter is no key anyone issues, and would match ordinary words


class Secrets:
    """The secrets of this process, and where in a text or a JSON value they show."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: frozenset[str] = frozenset()

    def add(self, secret: str) -> None:
        """Register a secret, as written and as JSON and URLs would spell it."""
        secret = secret.strip()
        if len(secret) < MIN_SECRET_CHARS:
            return
        forms = {secret, json.dumps(secret)[1:-1], quote(secret, safe="")}
        with self._lock:
            self._forms = self._forms | forms

    def found_in(self, text: str) -> bool:
        """Whether `text` holds a secret."""
        return any(form in text for form in self._forms)

    def where(self, value: Any, path: str = "") -> str | None:
        """Where in a JSON-like value a secret shows ("targets[1].caption"), or None."""
        if isinstance(value, str):
            return (path or "the text") if self.found_in(value) else None
        if isinstance(value, Mapping):
            for key, item in value.items():
                found = self.where(str(key), path) or self.where(item, f"{path}.{key}" if path else str(key))
                if found:
                    return found
        elif isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
            for number, item in enumerate(value, start=1):
                found = self.where(item, f"{path}[{number}]")
                if found:
                    return found
        return None

    def withheld(self, text: str) -> str:
        """`text` with every secret replaced by WITHHELD_MARK."""
        for form in sorted(self._forms, key=len, reverse=True):
            text = text.replace(form, WITHHELD_MARK)
        return text


# The process's own: the API client adds its key; filing and posting look through what they write and send.
SECRETS = Secrets()
