"""Every error pqdrop raises, split by what the caller does next.

    PqdropError
    ├── ConfigError            stop: the configuration or arguments are unusable (exit 2)
    ├── ItemError              fail this item, go on with the others
    │   ├── SidecarError       the Markdown sidecar is broken or names a bad value
    │   ├── MediaError         the media cannot be read, or is not media at all
    │   ├── InboxError         the item's files break an inbox rule (symlink, outside the inbox)
    │   ├── KeyInText          a text the item would send holds the API key: nothing is sent
    │   └── ApiRejected        the API refused this item (4xx other than account-wide)
    │       └── UploadUrlStale storage refused a presigned URL as expired or mis-signed: a new session may do
    ├── TransientError         try again later; nothing about the item is wrong
    │   ├── ApiUnavailable     timeout, connection loss, 5xx
    │   ├── RateLimited        429; carries the server's Retry-After
    │   ├── Postponed          waits for another item (the same post is in flight)
    │   ├── PlatformBusy       TikTok turned the post away for now (a daily cap, its client quota)
    │   └── JournalError       SQLite failed under an open journal (disk full, I/O error)
    ├── ServiceUnavailable     stop now, start again later: the journal cannot be opened, another pqdrop
    │                          holds the owner lock, the inbox cannot be written (exit 75; systemd restarts the unit)
    ├── JournalDamaged         stop: the journal's file is damaged (not a database, corrupt); a person must move it
    │                          aside or restore it (exit 65; systemd does not restart the unit)
    ├── InboxBlocked           wait for the user: a name pqdrop writes in the inbox is taken by something of
    │                          theirs (a file `sent` where the folder goes); the item waits, filing is retried
    ├── AccountBlocked         stop posting: key refused or subscription required (exit 3)
    └── Interrupted            the process is stopping: leave the item at its recorded step

API errors also derive from ApiError, which carries the HTTP status and the API's `code`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# What a pqdrop process's exit code says (docs/reference/exit-codes.md is generated from these lines);
# the systemd units' RestartPreventExitStatus= names EXIT_USAGE, the one a restart cannot mend.
EXIT_OK = 0  # every item was sent (and `run` stopped on request)
EXIT_FAILED = 1  # at least one item failed
EXIT_USAGE = 2  # the configuration or the arguments are unusable
EXIT_BLOCKED = 3  # the account cannot post right now; the items wait in the inbox
EXIT_TEMPFAIL = 75  # sysexits' EX_TEMPFAIL: a passing trouble of this machine (ServiceUnavailable); try again
EXIT_DAMAGED = 65  # sysexits' EX_DATAERR: the journal's file is damaged (JournalDamaged); a restart cannot mend it


class PqdropError(Exception):
    """Base of every error pqdrop raises on purpose."""

    code: str = "ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ConfigError(PqdropError):
    """The configuration or the command line is unusable; the process stops."""

    code = "CONFIG"


@dataclass(frozen=True)
class Problem:
    """One of the things wrong with an item, each naming its key or line and the fix (issue 22)."""

    code: str
    message: str  # "caption: ...", without the file's name


class ItemError(PqdropError):
    """Something about one item is wrong; that item fails, the others go on."""

    code = "ITEM"
    problems: tuple[Problem, ...] = ()  # every problem when there are several, for check and the status file


class SidecarError(ItemError):
    """The sidecar cannot be parsed or holds a bad key or value."""

    code = "SIDECAR"

    @classmethod
    def of(cls, name: str, errors: Sequence[SidecarError]) -> SidecarError:
        """One error for all of a sidecar's problems, so a user fixes them in one round (issue 22)."""
        if len(errors) == 1:
            return errors[0]
        problems = tuple(Problem(error.code, error.message.removeprefix(f"{name}: ")) for error in errors)
        listed = " ".join(f"({number}) {problem.message}" for number, problem in enumerate(problems, start=1))
        error = cls(f"{name}: {len(problems)} problems: {listed}", code="SIDECAR_PROBLEMS")
        error.problems = problems
        return error


class MediaError(ItemError):
    """The media file is empty, corrupt, of an unsupported kind, or breaks a platform rule."""

    code = "MEDIA"


class InboxError(ItemError):
    """The item's files break an inbox rule (a symlink, a path outside the inbox)."""

    code = "INBOX"


class KeyInText(ItemError):
    """A caption, option or any text the item would send holds the API key; nothing is sent (issue 21)."""

    code = "KEY_IN_TEXT"


class TransientError(PqdropError):
    """A passing failure (network, server, rate limit); the item waits and is tried again."""

    code = "TRANSIENT"


class Postponed(TransientError):
    """The item waits for another one to finish first (the same media to the same accounts in flight)."""

    code = "POSTPONED"


class JournalError(TransientError):
    """SQLite failed on a read or write of the open journal (disk full, I/O error); the item waits."""

    code = "JOURNAL"


class ServiceUnavailable(PqdropError):
    """The daemon cannot work now, for a reason that passes (the journal's disk, a twin's lock); it exits 75."""

    code = "SERVICE_UNAVAILABLE"


class JournalDamaged(PqdropError):
    """The journal's file is damaged (SQLite finds it corrupt or not a database); it exits 65, not restarted."""

    code = "JOURNAL_DAMAGED"


class InboxBlocked(PqdropError):
    """A name pqdrop files into is taken by the user's own thing (a file where a folder goes); nothing is moved."""

    code = "INBOX_BLOCKED"


class AccountBlocked(PqdropError):
    """The API refuses the account as a whole (bad key, no subscription); all posting pauses."""

    code = "ACCOUNT_BLOCKED"


class ApiError(PqdropError):
    """Mixin data for errors that came from an HTTP reply of the PostQued API."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status = status


class ApiRejected(ApiError, ItemError):
    """The API refused this request for this item (a 4xx that is not account-wide)."""

    code = "API_REJECTED"


class UploadUrlStale(ApiRejected):
    """Storage refused the presigned URL itself (expired, signature no longer good); a new upload session may fix it."""

    code = "STORAGE_REFUSED"

    def __init__(
        self, message: str, *, status: int | None = None, first_attempt: bool = False, unsent: bool = False
    ) -> None:
        super().__init__(message, status=status)
        self.first_attempt = first_attempt  # refused before any retry of this URL
        self.unsent = unsent  # judged stale by its stated lifetime, without asking storage


class ApiUnavailable(ApiError, TransientError):
    """The API could not be reached, timed out or answered 5xx."""

    code = "API_UNAVAILABLE"


class PlatformBusy(ApiError, TransientError):
    """TikTok turned the post away for now (a daily cap, its client's quota); the item waits and is tried later."""

    code = "PLATFORM_BUSY"


class RateLimited(ApiError, TransientError):
    """The API answered 429; `retry_after` says how many seconds to wait."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: float, status: int = 429, code: str | None = None) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after = retry_after


class ApiAccountBlocked(ApiError, AccountBlocked):
    """The API refused the key (401/403) or requires a subscription."""

    code = "ACCOUNT_BLOCKED"


class Interrupted(PqdropError):
    """The process is stopping; the item keeps its recorded step and resumes on the next start."""

    code = "INTERRUPTED"

    def __init__(self, message: str = "stopping; the item resumes at its recorded step on the next start") -> None:
        super().__init__(message)
