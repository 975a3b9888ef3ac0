"""systemd/user/pqdrop.service for one user with lingering, under a real systemd 252."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.service.box import SANDBOX_KEY, Box, HostSandbox
from tests.service.commands import LINGER, USER_INSTALL, USER_KEY, USER_START
from tests.service.conftest import clip, configured

USER = "alice"
HOME = f"/home/{USER}"


@pytest.fixture(scope="module")
def user_unit(box: Box, sandbox: HostSandbox) -> Iterator[Box]:
    # The box is Debian minbase: no libpam-systemd, whose pam_systemd sets XDG_RUNTIME_DIR for a
    # user manager on a full install. Without it `systemd --user` refuses to run; this stands in.
    box.run("mkdir -p /etc/systemd/system/user@.service.d && printf '[Service]\\nEnvironment=XDG_RUNTIME_DIR="
            "/run/user/%%i\\n' > /etc/systemd/system/user@.service.d/runtime-dir.conf && systemctl daemon-reload")
    box.run(f"useradd --create-home --shell /bin/sh {USER}")
    box.run(LINGER.format(user=USER))
    uid = box.uid(USER)
    box.wait(lambda: box.exists(f"/run/user/{uid}/systemd/private"), 30, "alice's user manager")
    as_alice = {"user": USER}
    path = f"PATH={HOME}/.local/bin:$PATH"
    for command in USER_INSTALL:
        box.run(f"{path}; {command.format(wheel=box.wheel)}", **as_alice)
    config = f"{HOME}/.config/pqdrop/config.toml"
    box.run(f"test -d {HOME}/PostQued", **as_alice)  # pqdrop init made the inbox it names
    box.write(config, configured(box.out(f"cat {config}"), inbox=f"{HOME}/PostQued",
                                 state=f"{HOME}/.local/state/pqdrop", base_url=sandbox.url), user=USER)
    box.run(USER_KEY, input=SANDBOX_KEY + "\n", **as_alice)
    for command in USER_START:
        box.run(f"cd /src && {command}", **as_alice)
    box.wait(lambda: box.show("pqdrop", "ActiveState", user=USER)["ActiveState"] == "active", 60, "the user unit")
    yield box
    box.run("systemctl --user disable --now pqdrop", check=False, **as_alice)


def test_the_user_unit_of_a_lingering_user_is_ready_and_posts_a_dropped_clip(
    user_unit: Box, sandbox: HostSandbox, tmp_path: Path
) -> None:
    box = user_unit
    shown = box.show("pqdrop", "ActiveState", "SubState", "StatusText", user=USER)
    assert (shown["ActiveState"], shown["SubState"]) == ("active", "running")
    assert "waiting" in shown["StatusText"]
    assert box.out(f"loginctl show-user {USER} -p Linger") == "Linger=yes"
    box.write(f"{HOME}/PostQued/home.mp4", clip(tmp_path, "home", width=440), user=USER)
    box.write(f"{HOME}/PostQued/home.md", "---\naccount: \"@mybrand\"\nintent: publish\n---\nfrom home\n", user=USER)
    box.wait(lambda: box.exists(f"{HOME}/PostQued/sent/home.status.json"), 60, "home in sent/")
    status = json.loads(box.out(f"cat {HOME}/PostQued/sent/home.status.json"))
    assert [publish["publishId"] for publish in sandbox.state()["publishes"]] == [status["publishId"]]
    assert box.out(f"stat -c %U {HOME}/PostQued/sent/home.status.json") == USER
