"""What a post is checked against at PostQued before any upload, with read-only calls: each target's account
among its platform's (in the workspace, on v2), the account's own TikTok rules (creator info), and on v2 a
caption. `once` and `run` (Pipeline.prepared), `pqdrop check` and `pqdrop retry` ask the same (issue 22).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pqdrop.errors import SidecarError
from pqdrop.posting.creators import CreatorInfos
from pqdrop.posting.preflight import creator_problems
from pqdrop.posting.publish import check_captions, check_v1_platforms, find_account
from pqdrop.postqued.client import PostQued
from pqdrop.postqued.types import Account, Api
from pqdrop.sidecar.parse import Sidecar

if TYPE_CHECKING:
    from pqdrop.media.probe import MediaInfo


class AccountCheck:
    """The API's side of a post's checks; raises ItemError (ApiRejected for an account the key cannot reach)
    naming the file and the rule, TransientError or AccountBlocked when PostQued cannot answer now."""

    def __init__(self, client: PostQued, creators: CreatorInfos, configured: str = "auto") -> None:
        """`configured` is [postqued].api, which the v1 refusal of another platform names."""
        self.client = client
        self.creators = creators
        self.configured = configured

    def check(self, sidecar: Sidecar, media: Sequence[MediaInfo], name: str) -> dict[str, Account]:
        """Every check; returns each target's account by its key."""
        if self.client.api is Api.V1:
            check_v1_platforms(sidecar.targets, sidecar.path or name, self.configured)
        accounts = self.accounts(sidecar, name)
        self.account_rules(sidecar, media, accounts, name)
        if self.client.api is Api.V2:
            check_captions(sidecar.targets, sidecar.path or name)
        return accounts

    def accounts(self, sidecar: Sidecar, name: str) -> dict[str, Account]:
        """Each target's account among its platform's; one of another platform is named as such."""
        resolved: dict[str, Account] = {}
        for target in sidecar.targets:
            known = self.client.platform_accounts(target.platform)
            resolved[target.key] = find_account(
                target.account, known, sidecar.path or name, target.account_key, platform=target.platform,
                elsewhere=lambda: self.client.accounts())
        return resolved

    def account_rules(
        self, sidecar: Sidecar, media: Sequence[MediaInfo], accounts: Mapping[str, Account], name: str
    ) -> None:
        """The accounts' own rules (creator info): privacy choices, maximum duration, switched-off interactions."""
        problems = []
        for target in sidecar.targets:
            if target.platform != "tiktok":
                continue
            info = self.creators.get(accounts[target.key].id)
            if info is not None:
                problems += creator_problems(target, media, info)
        if problems:
            where = sidecar.path.name if sidecar.path is not None else name
            raise SidecarError(f"{where}: {'; '.join(problems)}", code="TIKTOK_ACCOUNT_RULE")
