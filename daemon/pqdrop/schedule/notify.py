"""Telling someone when an item fails (or, if asked, when it is published): a command and/or a URL.

Notifications go out from one background thread with a timeout each, so a notifier that
hangs or fails is logged and never holds the queue.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from pqdrop.config import API_KEY_ENV, NotifyConfig

log = logging.getLogger("pqdrop.notify")


def event_of(result_name: str, state: str, publish_id: str | None, reason: str | None) -> dict[str, Any]:
    """The JSON a notifier receives."""
    return {"item": result_name, "state": state, "publishId": publish_id, "reason": reason}


def wanted(config: NotifyConfig, state: str) -> bool:
    return bool(config.command or config.url) and state in config.on


class Notifier:
    """Sends events in the background, one at a time, each within the configured timeout."""

    def __init__(self, config: NotifyConfig) -> None:
        self._config = config
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1000)
        self._thread: threading.Thread | None = None

    def reconfigure(self, config: NotifyConfig) -> None:
        """Take a reloaded `[notify]`: the next event sent (and any still queued) follows it."""
        self._config = config

    def send(self, event: Mapping[str, Any]) -> None:
        """Queue an event if this state is wanted; never blocks the caller."""
        if not wanted(self._config, str(event.get("state"))):
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="pqdrop-notify", daemon=True)
            self._thread.start()
        try:
            self._queue.put_nowait(dict(event))
        except queue.Full:
            log.warning("notification for %s dropped: %d are already waiting", event.get("item"), self._queue.qsize())

    def close(self, timeout: float = 5.0) -> None:
        """Let queued notifications go out for up to `timeout` seconds."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)

    def _drain(self) -> None:
        while (event := self._queue.get()) is not None:
            if self._config.command:
                self._run_command(event)
            if self._config.url:
                self._post(event)

    def _run_command(self, event: Mapping[str, Any]) -> None:
        environment = {key: value for key, value in os.environ.items() if key != API_KEY_ENV}
        environment.update(
            PQDROP_ITEM=str(event["item"]),
            PQDROP_STATE=str(event["state"]),
            PQDROP_REASON=str(event.get("reason") or ""),
        )
        try:
            completed = subprocess.run(
                str(self._config.command), shell=True, input=json.dumps(event), text=True, env=environment,
                capture_output=True, timeout=self._config.timeout_seconds, check=False,
            )
        except subprocess.TimeoutExpired:
            log.warning("notify command took longer than %gs; stopped it", self._config.timeout_seconds)
            return
        except OSError as exc:
            log.warning("notify command could not start: %s", exc)
            return
        if completed.returncode != 0:
            log.warning("notify command exited %d: %s", completed.returncode, completed.stderr.strip()[:200])

    def _post(self, event: Mapping[str, Any]) -> None:
        # The standard library is enough for one small POST; httpx stays the API client's alone.
        request = urllib.request.Request(
            str(self._config.url), data=json.dumps(event).encode(), method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "pqdrop"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self._config.timeout_seconds) as reply:
                reply.read(1024)
        except urllib.error.HTTPError as exc:
            log.warning("notify URL answered HTTP %d", exc.code)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            log.warning("notify URL failed: %s", getattr(exc, "reason", exc))
