"""`pqdrop run`: the daemon; and what it shares with `pqdrop once`: the API client and the workers' set-up."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from pqdrop.errors import ConfigError

if TYPE_CHECKING:
    import threading

    from pqdrop.config import Config
    from pqdrop.postqued.client import PostQued
    from pqdrop.service.daemon import Service, Signals
    from pqdrop.service.workers import Workers


def connect(config: Config, stop: threading.Event | None = None, *, patient: bool = True) -> PostQued:
    """The API client for `config`, drawing on the machine-wide rate budget of its key.

    `stop`, once set, breaks off its waits (the bandwidth cap, a retry's backoff) with Interrupted. A command a
    person waits on (`cancel`, `reschedule`) is not `patient`: one quick retry, then it says PostQued did not answer.
    """
    from pqdrop.config import resolve_api_key
    from pqdrop.postqued.client import PostQued
    from pqdrop.postqued.ratelimit import RateLimiter, budget_path
    from pqdrop.postqued.types import DEFAULT_RETRY, RetryPolicy

    key = resolve_api_key(config, os.environ)
    # Every pqdrop on this machine using this key draws from one budget (issue 17: one inbox per client).
    limiter = RateLimiter.of(config.postqued.rate_limits, budget=budget_path(key, config.postqued.base_url))
    retry = DEFAULT_RETRY if patient else RetryPolicy(attempts=2, base_seconds=0.5, cap_seconds=1.0)
    return PostQued(config.postqued.base_url, key, limiter=limiter, timeout_seconds=config.postqued.timeout_seconds,
                    deadline_seconds=config.postqued.request_deadline_seconds, retry=retry, api=config.postqued.api,
                    workspace=config.postqued.workspace, stop=stop)


def settle(client: PostQued) -> None:
    """Which dialect, which workspace: settled before the first item, so a config to fix exits 2 at once.

    A server that cannot be reached now (or refuses the key) is asked again by the first call that
    needs it, which then says why.
    """
    from pqdrop.errors import AccountBlocked, TransientError

    try:
        client.connect()
    except (TransientError, AccountBlocked) as exc:
        logging.getLogger("pqdrop").debug("cannot ask PostQued yet: %s", exc.message)


def serve(config: Config, signals: Signals, body: Callable[[Workers], int], *, daemon: bool) -> int:
    """Run `body` with the workers over the journal, all closed on the way out; returns its exit code.

    A worker stuck in a request ends the process at once, with that code.
    """
    from pqdrop.config import inbox_not_a_folder
    from pqdrop.journal.store import Journal
    from pqdrop.service.systemd import STOP_GRACE_SECONDS, UPLOADS_FILE, Pulse
    from pqdrop.service.workers import Workers

    if not daemon and not config.inbox.path.is_dir():
        raise ConfigError(inbox_not_a_folder(config.inbox.path))
    with connect(config, signals.stop) as client:
        settle(client)
        journal = Journal(config.state.dir)
        pulse = Pulse.from_environment(uploads_file=config.state.dir / UPLOADS_FILE)
        from pqdrop.config import resolve_api_key

        workers = Workers(config, client, journal, stop=signals.stop, pulse=pulse,
                          secrets=(resolve_api_key(config, os.environ),))
        # Everything loaded so far lives as long as the process: keep the collector from walking it
        # again on every scan (bench/watch.py: a quarter of poll-mode CPU was garbage collection).
        gc.freeze()
        code = 1
        try:
            code = body(workers)
        finally:
            # `run` already gave the workers their grace in its wind-down: a second one, after a stop
            # during a slow upload, took 16 s, past TimeoutStopSec=15 (SIGKILL, seen under real systemd).
            workers.close(grace_seconds=0.0 if daemon else STOP_GRACE_SECONDS)
            if daemon and signals.stop.is_set():  # `once` says where each item stopped instead
                logging.getLogger("pqdrop").info("stopped")
            if workers.abandoned:
                # A worker is stuck inside a request: leaving now is as safe as a crash (the journal is
                # written ahead) and keeps the stop within systemd's TimeoutStopSec.
                logging.shutdown()
                sys.stdout.flush()
                os._exit(code)
            journal.close()
    return code


def run_daemon(config: Config, signals: Signals) -> int:
    """Watch the inbox until SIGTERM/SIGINT; SIGHUP reloads the config file."""
    from pqdrop.config import load_config
    from pqdrop.service.daemon import Service

    source = config.source
    load: Callable[[], Config] | None = (lambda: load_config(source)) if source else None

    def body(workers: Workers) -> int:
        service = Service(workers, signals.wake, signals.reload, load)
        with endpoint(service):  # bound before READY=1, so a taken port is said at once (exit 2)
            return service.run()

    return serve(config, signals, body, daemon=True)


def endpoint(service: Service) -> contextlib.AbstractContextManager[object]:
    """`[http] listen`'s endpoint over the running service, or nothing when it is not set."""
    address = service.workers.config.http.address
    if address is None:
        return contextlib.nullcontext()
    from datetime import UTC, datetime

    from pqdrop.commands.status import Overview, filed_counts, gather, status_document
    from pqdrop.inbox.items import CANCELED_DIR, FAILED_DIR, SENT_DIR
    from pqdrop.web.server import Endpoint, NotNow, Views

    workers = service.workers

    def look() -> Overview:
        """As `pqdrop status` looks; an inbox that is not there (an unmounted share) is said, as status says it."""
        inbox = workers.config.inbox.path
        if not inbox.is_dir():
            raise NotNow(f"the inbox {inbox} is not there (unmounted share?); pqdrop waits for it to return")
        try:
            return gather(workers.config, datetime.now(UTC))
        except OSError as exc:
            raise NotNow(f"cannot read the inbox {inbox}: {exc.strerror or exc}") from exc

    def document() -> dict[str, object]:
        return status_document(look())

    def items() -> dict[str, int]:
        view, filed = look(), filed_counts(workers.config.inbox.path)
        return {"waiting": len(view.waiting), "in_flight": len(view.in_flight), "scheduled": len(view.scheduled),
                "sent": filed[SENT_DIR], "failed": filed[FAILED_DIR], "canceled": filed[CANCELED_DIR]}

    return Endpoint(address, Views(health=service.health, document=document, uploads=workers.pulse.uploads,
                                   items=items))
