"""`pqdrop cancel NAME`: cancel a scheduled post; its item moves to canceled/ (as `cancel: true` in its sidecar)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pqdrop.commands.edit import request_edit
from pqdrop.config import Config
from pqdrop.editor import CANCEL

if TYPE_CHECKING:
    from pqdrop.postqued import PostQued


def cancel_item(config: Config, name: str, client: Callable[[], PostQued]) -> int:
    """Exit 0 once canceled; 1 when there is no such scheduled item or the post can no longer be canceled."""
    return request_edit(config, name, CANCEL, None, client)
