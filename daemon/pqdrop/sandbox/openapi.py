"""A short OpenAPI 3 description of the endpoints the sandbox serves."""

from __future__ import annotations

from typing import Any


def _operation(summary: str, *, body: str | None = None, params: tuple[str, ...] = ()) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": {"description": "OK"}}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {body: {"schema": {"type": "object"}}}}
    if params:
        operation["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in params
        ]
    return operation


JSON = "application/json"

OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "PostQued API (pqdrop sandbox)", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/v1/content/upload": {"post": _operation("Start a presigned video upload", body=JSON)},
        "/v1/content/upload/complete": {"post": _operation("Confirm an uploaded video", body=JSON)},
        "/v1/content/upload-image": {"post": _operation("Upload an image", body="multipart/form-data")},
        "/v1/content/{contentId}": {"delete": _operation("Delete a content", params=("contentId",))},
        "/v1/platform-accounts": {"get": _operation("List connected platform accounts")},
        "/v1/content/publish": {
            "post": {
                **_operation("Publish content to targets", body=JSON),
                "parameters": [
                    {"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string"}}
                ],
            }
        },
        "/v1/content/publish/{publishId}": {
            "get": _operation("Publish status", params=("publishId",)),
            "delete": _operation("Cancel a publish", params=("publishId",)),
        },
    },
}
