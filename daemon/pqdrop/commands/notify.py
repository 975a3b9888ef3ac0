"""`pqdrop notify --test`: a test message through every configured notifier, and which took it."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from pqdrop.config import Config, resolve_api_key
from pqdrop.errors import ConfigError
from pqdrop.names import shown
from pqdrop.schedule.notify import deliver, trial_message


def test_notifiers(config: Config) -> int:
    """0 when every notifier took the test message, 1 when one did not or none is configured."""
    where = config.source or "the config file"
    if not config.notify.configured:
        print(shown(f"no notifier is configured: add a [notify] section with urls = [\"ntfys://your-topic\"] (or "
                    f"command, url) to {where}; docs/how-to/notifications.md has a recipe for each service"))
        return 1
    try:
        secrets: tuple[str, ...] = (resolve_api_key(config, os.environ),)
    except ConfigError:
        secrets = ()  # no key here to leak; the test message never holds one anyway
    outcomes = deliver(trial_message(datetime.now(UTC), config.defaults.zone), config.notify, secrets)
    width = max(len(outcome.notifier) for outcome in outcomes)
    for outcome in outcomes:
        said = "ok" if outcome.ok else f"FAILED: {outcome.detail}"
        print(shown(f"{outcome.notifier:<{width}}  {said}"))
    took = sum(outcome.ok for outcome in outcomes)
    if took == len(outcomes):
        print(f"all {took} notifier(s) took the test message; look for it where each one delivers")
        return 0
    print(shown(f"{len(outcomes) - took} of {len(outcomes)} notifier(s) did not take it: check their [notify] "
                f"entries in {where} (docs/how-to/notifications.md)"))
    return 1
