"""Which endpoint a method and path name, and which rate-limit quota it draws on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pqdrop.sandbox.refusal import Refusal
from pqdrop.sandbox.state import STORAGE_PREFIX


@dataclass(frozen=True)
class Route:
    """One endpoint; `category` names its rate-limit quota, and None means no auth and no quota."""

    method: str
    pattern: re.Pattern[str]
    action: str
    category: str | None


def _route(method: str, pattern: str, action: str, category: str | None) -> Route:
    return Route(method, re.compile(pattern), action, category)


ROUTES: tuple[Route, ...] = (
    _route("POST", r"/v1/content/upload", "upload", "upload"),
    _route("POST", r"/v1/content/upload/complete", "complete", "upload"),
    _route("POST", r"/v1/content/upload-image", "upload_image", "upload"),
    _route("GET", r"/v1/platform-accounts", "accounts", "read"),
    _route("POST", r"/v1/content/publish", "publish", "publish"),
    _route("GET", r"/v1/content/publish/(?P<id>[^/]+)", "publish_status", "read"),
    _route("DELETE", r"/v1/content/publish/(?P<id>[^/]+)", "cancel", "delete"),
    # The lookahead keeps the fixed endpoints from also reading as content ids (and so as 405s).
    _route("DELETE", r"/v1/content/(?P<id>(?!(?:upload|upload-image|publish)$)[^/]+)", "delete_content", "delete"),
    _route("GET", r"/v1/docs/openapi\.json", "openapi", None),
    _route("PUT", STORAGE_PREFIX + r"(?P<key>.+)", "storage_put", None),
    _route("GET", r"/_sandbox/state", "control_state", None),
    _route("POST", r"/_sandbox/faults", "control_faults", None),
)


def find_route(method: str, path: str) -> tuple[Route, re.Match[str]]:
    """The route for this method and path, or a 404/405 refusal."""
    allowed = []
    for route in ROUTES:
        match = route.pattern.fullmatch(path)
        if match is None:
            continue
        if route.method == method:
            return route, match
        allowed.append(route.method)
    if allowed:
        raise Refusal(405, "METHOD_NOT_ALLOWED", f"{method} is not allowed on {path}", {"Allow": ", ".join(allowed)})
    raise Refusal(404, "NOT_FOUND", f"No endpoint {path}")
