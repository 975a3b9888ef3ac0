"""systemd/pqdrop@.service: three inboxes on one machine and one API key, under a real systemd 252."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.service.box import SANDBOX_KEY, Box, HostSandbox
from tests.service.commands import (
    SYSTEM_INSTALL,
    SYSTEM_KEY,
    TEMPLATE_INSTALL,
    TEMPLATE_INSTANCE,
    TEMPLATE_START,
    TEMPLATE_STATUS,
)
from tests.service.conftest import clip, configured

CLIENTS = ("north", "south", "west")
PER_INBOX = 3  # nine publishes: within the sandbox's ten a minute, so the test does not wait a window out


@pytest.fixture(scope="module")
def instances(box: Box, sandbox: HostSandbox) -> Iterator[Box]:
    if box.run("id pqdrop", check=False).returncode != 0:
        for command in SYSTEM_INSTALL[:3]:  # the user, an inbox folder, pqdrop itself
            box.run(command.format(wheel=box.wheel))
    box.run("install -d -m 0755 /etc/pqdrop")
    box.run(SYSTEM_KEY, input=SANDBOX_KEY + "\n")
    for command in TEMPLATE_INSTALL:
        box.run(f"cd /src && {command}")
    for name in CLIENTS:
        for command in TEMPLATE_INSTANCE:
            box.run(f"cd /etc/pqdrop && {command.format(name=name)}")
        config = f"/etc/pqdrop/{name}.toml"
        box.write(config, configured(box.out(f"cat {config}"), inbox=f"/srv/pqdrop/{name}",
                                     state=f"/var/lib/pqdrop/{name}", base_url=sandbox.url))
    yield box
    box.run(" ; ".join(f"systemctl disable --now pqdrop@{name}" for name in CLIENTS), check=False)


def test_three_instances_on_one_key_post_every_item_without_a_429(
    instances: Box, sandbox: HostSandbox, tmp_path: Path
) -> None:
    box = instances
    for index, name in enumerate(CLIENTS):
        for item in range(PER_INBOX):
            stem = f"{name}{item}"
            width = 360 + 8 * (index * PER_INBOX + item)  # distinct media: a re-drop is refused
            box.write(f"/srv/pqdrop/{name}/{stem}.mp4", clip(tmp_path, stem, width=width))
            box.write(f"/srv/pqdrop/{name}/{stem}.md", f"---\naccount: \"@mybrand\"\nintent: publish\n---\n{stem}\n")
    for name in CLIENTS:
        box.run(TEMPLATE_START.format(name=name))

    def all_sent() -> bool:
        listing = box.out("ls /srv/pqdrop/north/sent /srv/pqdrop/south/sent /srv/pqdrop/west/sent 2>/dev/null || true")
        return listing.count(".status.json") == len(CLIENTS) * PER_INBOX

    box.wait(all_sent, 120, "every item in sent/")
    state = sandbox.state()
    assert state["rate_limited_count"] == 0
    assert len(state["publishes"]) == len(CLIENTS) * PER_INBOX
    for name in CLIENTS:
        shown = box.show(f"pqdrop@{name}", "ActiveState", "StatusText")
        assert shown["ActiveState"] == "active"
        assert box.exists(f"/var/lib/pqdrop/{name}/journal.sqlite3")
        status = box.out(TEMPLATE_STATUS.format(name=name))
        assert f"inbox /srv/pqdrop/{name}" in status
        assert "daemon: running" in status
    # One budget file in /run/pqdrop for the key at this API, named by a hash, not the key.
    budgets = box.out("ls /run/pqdrop").split()
    assert len([name for name in budgets if name.startswith("budget-")]) >= 1
    assert not any(SANDBOX_KEY in name for name in budgets)
    assert all(json.loads(box.out(f"cat /run/pqdrop/{name}")) for name in budgets if name.startswith("budget-"))
