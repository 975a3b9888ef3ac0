"""`pqdrop accounts`: the platform accounts the API key can post to."""

from __future__ import annotations

import sys

from pqdrop.commands.run import connect
from pqdrop.config import Config
from pqdrop.errors import EXIT_BLOCKED, EXIT_OK, PqdropError


def list_accounts(config: Config) -> int:
    with connect(config) as client:
        try:
            accounts = client.platform_accounts("tiktok")
        except PqdropError as exc:
            print(f"pqdrop: {exc.message}", file=sys.stderr)
            return EXIT_BLOCKED
    width = max([len(account.username) for account in accounts] + [8])
    print(f"{'username':<{width}}  id")
    for account in accounts:
        print(f"{account.username:<{width}}  {account.id}")
    return EXIT_OK
