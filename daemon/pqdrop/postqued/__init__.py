"""The PostQued API client; the only package that sees httpx.

`client` is the one interface, `v1` and `v2` the dialects behind it (paths, bodies, reply
parsing), `transport` the requests and their retries, `types` the values handed back.
"""

from pqdrop.postqued.client import PostQued, detect
from pqdrop.postqued.replies import (
    error_from_reply,
    parse_account,
    parse_publish_state,
    parse_target_state,
    parse_upload_ticket,
    retry_after_seconds,
)
from pqdrop.postqued.storage import storage_reason
from pqdrop.postqued.types import (
    TERMINAL_REQUEST_STATES,
    TERMINAL_TARGET_STATES,
    Account,
    Api,
    Progress,
    PublishState,
    RetryPolicy,
    TargetState,
    UploadTicket,
    Workspace,
)
from pqdrop.postqued.v1 import NOT_IN_V1

__all__ = [
    "NOT_IN_V1", "TERMINAL_REQUEST_STATES", "TERMINAL_TARGET_STATES", "Account", "Api", "PostQued", "Progress",
    "PublishState",
    "RetryPolicy", "TargetState", "UploadTicket", "Workspace", "detect", "error_from_reply", "parse_account",
    "parse_publish_state", "parse_target_state", "parse_upload_ticket", "retry_after_seconds", "storage_reason",
]
