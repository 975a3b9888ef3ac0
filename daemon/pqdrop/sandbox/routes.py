"""Which endpoint a method and path name, and which rate-limit quota it draws on."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pqdrop.sandbox.refusal import Refusal
from pqdrop.sandbox.state import STORAGE_PREFIX


@dataclass(frozen=True)
class Route:
    """One endpoint; `category` names its rate-limit quota, and None means no quota and no API auth (the
    control routes still take a key the sandbox knows; a presigned PUT is signed by its URL)."""

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
    # v2 (reference A4): every route but ping names its workspace.
    _route("GET", r"/v2/ping", "ping", None),
    _route("GET", r"/v2/mcp/context", "v2_context", "read"),
    _route("GET", r"/v2/integrations", "v2_integrations", "read"),
    _route("GET", r"/v2/integrations/(?P<id>[^/]+)/creator-info", "v2_creator_info", "read"),
    _route("POST", r"/v2/content/upload", "v2_upload", "upload"),
    _route("POST", r"/v2/content/upload/complete", "v2_complete", "upload"),
    _route("DELETE", r"/v2/content/(?P<id>(?!upload$)[^/]+)", "v2_delete_content", "delete"),
    _route("POST", r"/v2/publish", "v2_publish", "publish"),
    _route("GET", r"/v2/publish/(?P<id>(?!target$)[^/]+)", "v2_status", "read"),
    _route("POST", r"/v2/publish/(?P<id>(?!target$)[^/]+)/cancel", "v2_cancel", "delete"),
    _route("POST", r"/v2/publish/target/(?P<id>[^/]+)/cancel", "v2_cancel_target", "delete"),
    _route("PATCH", r"/v2/publish/target/(?P<id>[^/]+)", "v2_reschedule", "publish"),
    _route("PUT", STORAGE_PREFIX + r"(?P<key>.+)", "storage_put", None),
    _route("GET", r"/_sandbox/state", "control_state", None),
    _route("POST", r"/_sandbox/faults", "control_faults", None),
)


APIS = ("v1", "v2", "both")


def checked_api(api: str) -> str:
    """Which API a sandbox speaks: v1, v2 or both."""
    if api not in APIS:
        raise ValueError(f"api must be one of {', '.join(APIS)}, not {api!r}")
    return api


def find_route(method: str, path: str, api: str = "both") -> tuple[Route, re.Match[str]]:
    """The route for this method and path, or a 404/405 refusal; a sandbox of one API lacks the other's."""
    if api == "v1" and path.startswith("/v2/"):
        raise Refusal(404, "NOT_FOUND", f"No endpoint {path}")
    if api == "v2" and path.startswith("/v1/"):
        raise Refusal(410, "GONE", f"{path}: the v1 API is retired; use the /v2 routes")
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
