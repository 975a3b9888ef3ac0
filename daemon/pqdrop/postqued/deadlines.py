"""Whole-request deadlines: each thread's request in flight, when it must end, and the reads that keep to it.

A per-read timeout bounds one wait for a byte, not a request: an API answering one byte a second
held a request ~80 s and the item sat "uploading" while the loop beat on (issue 21). Every API
request and storage PUT registers here (`Deadlines.request`); the httpx connections read and write
through `GuardedBackend`, which never waits past the request's deadline and breaks off at once when
the process is told to stop; the storage PUT, on its own socket, has a `Watchman`. The loop asks
`overdue()` which threads outlived their deadline: a worker stuck past it is one the watchdog must see.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpcore

# How often a wait for the network looks at the stop event: a stop is answered within this.
STOP_CHECK_SECONDS = 0.5
# A thread this far past its deadline is stuck somewhere the deadline does not reach (a resolver,
# a disk): the guards end a request within a stop check of its deadline.
OVERDUE_GRACE_SECONDS = 5.0
WRITE_PIECE_BYTES = 64 * 1024  # one write between two looks at the deadline and the stop event


@dataclass
class Deadline:
    """One request in flight: what it is, and the monotonic instant it must have ended by."""

    what: str
    at: float
    thread: str = field(default_factory=lambda: threading.current_thread().name)
    expired: bool = False  # a guard broke the request off at its deadline
    stopped: bool = False  # a guard broke the request off because the process is stopping


class RequestExpired(httpcore.ReadTimeout):
    """The request outlived its whole-request deadline (not one read's timeout)."""


class RequestStopped(httpcore.ReadError):
    """The process is stopping; the request was broken off."""


class Deadlines:
    """Every thread's current request deadline; safe to share between threads."""

    def __init__(self, *, monotonic: Callable[[], float] = time.monotonic, stop: threading.Event | None = None) -> None:
        self.monotonic = monotonic
        self.stop = stop
        self._lock = threading.Lock()
        self._by_thread: dict[int, Deadline] = {}

    @contextlib.contextmanager
    def request(self, what: str, seconds: float) -> Iterator[Deadline]:
        """Register a request of this thread that must end within `seconds`; nested requests keep the outer one."""
        ident = threading.get_ident()
        with self._lock:
            outer = self._by_thread.get(ident)
            deadline = Deadline(what, self.monotonic() + seconds)
            self._by_thread[ident] = deadline
        try:
            yield deadline
        finally:
            with self._lock:
                if outer is None:
                    self._by_thread.pop(ident, None)
                else:
                    self._by_thread[ident] = outer

    def current(self) -> Deadline | None:
        """This thread's request in flight, if any."""
        with self._lock:
            return self._by_thread.get(threading.get_ident())

    def in_flight(self) -> dict[int, Deadline]:
        """Thread ident -> its request in flight, as of now."""
        with self._lock:
            return dict(self._by_thread)

    def overdue(self, grace: float = OVERDUE_GRACE_SECONDS) -> dict[int, Deadline]:
        """Thread ident -> the request it has been in for longer than its deadline and `grace`."""
        now = self.monotonic()
        return {ident: deadline for ident, deadline in self.in_flight().items() if now > deadline.at + grace}

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()


class GuardedStream(httpcore.NetworkStream):
    """An httpcore stream whose reads and writes keep to this thread's request deadline and the stop event."""

    def __init__(self, inner: httpcore.NetworkStream, deadlines: Deadlines) -> None:
        self._inner = inner
        self._deadlines = deadlines

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # The read's own timeout (no byte for `timeout` s) is counted here, in short waits between
        # looks at the stop event and the deadline; a timed-out recv() consumed nothing, so it is retried.
        clock = self._deadlines.monotonic
        quiet_until = None if timeout is None else clock() + timeout
        while True:
            wait = self._wait(quiet_until)
            try:
                return self._inner.read(max_bytes, wait)
            except httpcore.ReadTimeout:
                if quiet_until is not None and clock() >= quiet_until:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        view = memoryview(buffer)
        for start in range(0, len(view), WRITE_PIECE_BYTES):
            piece = bytes(view[start:start + WRITE_PIECE_BYTES])
            self._check()
            self._inner.write(piece, self._cap(timeout))

    def _wait(self, quiet_until: float | None) -> float:
        """How long the next low-level wait may last: up to the next look at stop and the deadline."""
        self._check()
        now = self._deadlines.monotonic()
        wait = STOP_CHECK_SECONDS
        if quiet_until is not None:
            wait = min(wait, max(0.0, quiet_until - now))
        deadline = self._deadlines.current()
        if deadline is not None:
            wait = min(wait, max(0.0, deadline.at - now))
        return max(wait, 0.001)

    def _cap(self, timeout: float | None) -> float | None:
        deadline = self._deadlines.current()
        if deadline is None:
            return timeout
        left = max(0.001, deadline.at - self._deadlines.monotonic())
        return left if timeout is None else min(timeout, left)

    def _check(self) -> None:
        deadline = self._deadlines.current()
        if self._deadlines.stopping():
            if deadline is not None:
                deadline.stopped = True
            raise RequestStopped("broken off: pqdrop is stopping")
        if deadline is not None and self._deadlines.monotonic() >= deadline.at:
            deadline.expired = True
            raise RequestExpired(f"{deadline.what} outlived its deadline")

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: typing.Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        self._check()
        return GuardedStream(self._inner.start_tls(ssl_context, server_hostname, self._cap(timeout)), self._deadlines)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with every stream guarded (see GuardedStream)."""

    def __init__(self, inner: httpcore.NetworkBackend, deadlines: Deadlines) -> None:
        self._inner = inner
        self._deadlines = deadlines

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return GuardedStream(stream, self._deadlines)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: typing.Iterable[typing.Any] | None = None
    ) -> httpcore.NetworkStream:
        return GuardedStream(self._inner.connect_unix_socket(path, timeout, socket_options), self._deadlines)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class Watchman:
    """Shuts a socket down when its request's deadline passes or the process stops (the storage PUT's guard).

    http.client reads a reply through a buffered file whose timeout cannot be resumed, so the
    deadline is kept from beside: a shutdown() ends whatever recv() or send() the request is in.
    """

    def __init__(self, sock: socket.socket, deadline: Deadline, deadlines: Deadlines) -> None:
        self._sock = sock
        self._deadline = deadline
        self._deadlines = deadlines
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"{deadline.thread}-watch", daemon=True)

    def __enter__(self) -> Watchman:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(STOP_CHECK_SECONDS):
            if self._deadlines.stopping():
                self._deadline.stopped = True
            elif self._deadlines.monotonic() >= self._deadline.at:
                self._deadline.expired = True
            else:
                continue
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            return
