"""A request the sandbox refuses: the HTTP status, a PostQued error code and a human message."""

from __future__ import annotations

from collections.abc import Mapping


class Refusal(Exception):
    """An error reply, rendered as `{"error": message, "code": code}` with `status`."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, str]:
        """The JSON error body PostQued documents."""
        return {"error": self.message, "code": self.code}


def invalid(message: str) -> Refusal:
    """A 400 VALIDATION_ERROR; the message names the offending field."""
    return Refusal(400, "VALIDATION_ERROR", message)
