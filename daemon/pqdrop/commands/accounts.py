"""`pqdrop accounts`: the platform accounts the API key can post to."""

from __future__ import annotations

import sys

from pqdrop.commands.run import connect
from pqdrop.config import Config
from pqdrop.errors import EXIT_BLOCKED, EXIT_OK, ConfigError, PqdropError


def list_accounts(config: Config) -> int:
    """v1: TikTok's accounts; v2: every platform's, from /v2/integrations. A workspace to choose exits 2."""
    with connect(config) as client:
        try:
            accounts = client.accounts()
            api = client.api
        except ConfigError:
            raise
        except PqdropError as exc:
            print(f"pqdrop: {exc.message}", file=sys.stderr)
            return EXIT_BLOCKED
    width = max([len(account.username) for account in accounts] + [8])
    if api == "v1":
        print(f"{'username':<{width}}  id")
        for account in accounts:
            print(f"{account.username:<{width}}  {account.id}")
        return EXIT_OK
    print(f"{'platform':<9}  {'username':<{width}}  id")
    for account in sorted(accounts, key=lambda account: (account.platform, account.username.casefold())):
        print(f"{account.platform:<9}  {account.username:<{width}}  {account.id}")
    return EXIT_OK
