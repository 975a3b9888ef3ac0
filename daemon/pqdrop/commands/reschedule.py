"""`pqdrop reschedule NAME WHEN`: move a scheduled post, as a new `dispatchAt` in its sidecar would.

WHEN is read exactly as a sidecar's dispatchAt: with an offset or Z, or wall time in the account's
zone (else [defaults].timezone), `now`, or `next` for the account's next free posting slot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pqdrop.commands.cancel import request_edit
from pqdrop.config import Config
from pqdrop.schedule.editor import RESCHEDULE

if TYPE_CHECKING:
    from pqdrop.postqued.client import PostQued


def reschedule_item(config: Config, name: str, when: str, client: Callable[[], PostQued]) -> int:
    """Exit 0 once rescheduled (or already at that time); 1 when it cannot apply, saying why."""
    return request_edit(config, name, RESCHEDULE, when, client)
