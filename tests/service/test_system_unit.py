"""systemd/pqdrop.service under a real systemd 252, installed the way the README tells a user."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.service.box import SANDBOX_KEY, Box, HostSandbox
from tests.service.commands import RELOAD, STOP, SYSTEM_INSTALL, SYSTEM_KEY, SYSTEM_START
from tests.service.conftest import clip, configured

INBOX = "/srv/pqdrop/inbox"
STATE = "/var/lib/pqdrop"
CONFIG = "/etc/pqdrop/config.toml"
SIDECAR = "---\naccount: \"@mybrand\"\nintent: publish\n---\nfrom the box {name} #fyp\n"


@pytest.fixture(scope="module")
def unit(box: Box, sandbox: HostSandbox) -> Iterator[Box]:
    for command in SYSTEM_INSTALL:
        box.run(command.format(wheel=box.wheel))
    box.write(CONFIG, configured(box.out(f"cat {CONFIG}"), inbox=INBOX, state=STATE, base_url=sandbox.url))
    box.run(SYSTEM_KEY, input=SANDBOX_KEY + "\n")
    for command in SYSTEM_START:
        box.run(f"cd /src && {command}")
    box.wait(lambda: box.show("pqdrop", "ActiveState")["ActiveState"] == "active", 60, "pqdrop to be active")
    yield box
    box.run("systemctl disable --now pqdrop", check=False)


def drop(
    box: Box, tmp_path: Path, name: str, *, seconds: float = 1.0, width: int = 360, sidecar: str = SIDECAR
) -> None:
    box.write(f"{INBOX}/{name}.mp4", clip(tmp_path, name, seconds, width))
    box.write(f"{INBOX}/{name}.md", sidecar.format(name=name))


def filed(box: Box, name: str, folder: str = "sent") -> dict[str, object]:
    box.wait(lambda: box.exists(f"{INBOX}/{folder}/{name}.status.json"), 60, f"{name} in {folder}/")
    return dict(json.loads(box.out(f"cat {INBOX}/{folder}/{name}.status.json")))


def journal(box: Box, *options: str) -> str:
    return box.out("journalctl --no-pager -o cat -u pqdrop " + " ".join(options))


def test_the_unit_says_ready_and_shows_pqdrops_status_line(unit: Box) -> None:
    shown = unit.show("pqdrop", "ActiveState", "SubState", "StatusText", "Type", "NRestarts")
    assert (shown["ActiveState"], shown["SubState"], shown["Type"]) == ("active", "running", "notify")
    assert "0 waiting, 0 ready" in shown["StatusText"]


def test_an_item_dropped_into_the_inbox_is_posted(unit: Box, sandbox: HostSandbox, tmp_path: Path) -> None:
    drop(unit, tmp_path, "first")
    status = filed(unit, "first")
    assert status["state"] in ("accepted", "published", "sent")
    publishes = sandbox.state()["publishes"]
    assert [publish["publishId"] for publish in publishes] == [status["publishId"]]


def test_reload_rereads_the_config_and_keeps_the_process(unit: Box) -> None:
    before = unit.show("pqdrop", "MainPID")["MainPID"]
    edit = "s/^follow_seconds = .*/follow_seconds = 90.0/; s/^upload = 20$/upload = 19/"
    unit.run(f"sed -i '{edit}' {CONFIG}")
    unit.run(RELOAD)
    unit.wait(lambda: "config reloaded" in journal(unit), 20, "the reload to be logged")
    unit.wait(lambda: unit.show("pqdrop", "ActiveState")["ActiveState"] == "active", 20, "READY after RELOADING")
    # The file was really read again: the one setting that needs a restart is named.
    assert "config reload: [postqued].rate_limits changed; it takes effect after a restart" in journal(unit)
    assert unit.show("pqdrop", "ReloadResult")["ReloadResult"] == "success"
    assert unit.show("pqdrop", "MainPID")["MainPID"] == before
    assert "Failed at step EXEC" not in journal(unit)


def test_the_key_reaches_the_daemon_only_as_a_credential(unit: Box) -> None:
    denied = unit.run("setpriv --reuid=pqdrop --regid=pqdrop --clear-groups cat /etc/pqdrop/api_key", check=False)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr
    pid = unit.show("pqdrop", "MainPID")["MainPID"]
    environ = unit.out(f"tr '\\0' '\\n' < /proc/{pid}/environ").splitlines()
    assert "CREDENTIALS_DIRECTORY=/run/credentials/pqdrop.service" in environ
    assert not any(SANDBOX_KEY in line for line in environ)
    assert SANDBOX_KEY not in unit.out("systemctl show pqdrop -p Environment")
    assert SANDBOX_KEY not in journal(unit)


PROBE = """#!/bin/sh
# Tries to write where a compromised pqdrop might; one line per place.
for place in {inbox} {state} /run/pqdrop /etc/pqdrop /opt/pipx /usr/local/bin /var/lib /srv /root /home /var/log; do
    if (echo pqdrop > "$place/written-by-pqdrop") 2>/dev/null; then echo "$place writable"
    else echo "$place refused"; fi
done > {state}/probe.txt
"""


def test_the_hardened_unit_writes_only_its_state_inbox_and_budget_and_logs_errors_at_err(
    unit: Box, tmp_path: Path
) -> None:
    # The injected path: a notify command (run by the daemon on a failure) that tries to write everywhere.
    unit.write("/usr/local/bin/pqdrop-probe", PROBE.format(inbox=INBOX, state=STATE), mode="0755")
    unit.run(f"printf '\\n[notify]\\ncommand = \"/usr/local/bin/pqdrop-probe\"\\n' >> {CONFIG}")
    unit.run("systemctl restart pqdrop")  # [notify] takes effect after a restart
    drop(unit, tmp_path, "typo", width=368, sidecar="---\naccount: \"@mybrand\"\ndispatchat: tomorrow\n---\nx\n")
    status = filed(unit, "typo", "failed")
    assert "dispatchat" in json.dumps(status)
    unit.wait(lambda: unit.exists(f"{STATE}/probe.txt"), 20, "the probe to run")
    verdicts = dict(line.rsplit(" ", 1) for line in unit.out(f"cat {STATE}/probe.txt").splitlines())
    assert verdicts == {INBOX: "writable", STATE: "writable", "/run/pqdrop": "writable", "/etc/pqdrop": "refused",
                        "/opt/pipx": "refused", "/usr/local/bin": "refused", "/var/lib": "refused", "/srv": "refused",
                        "/root": "refused", "/home": "refused", "/var/log": "refused"}
    errors = journal(unit, "-p", "err")
    assert "typo: failed" in errors
    assert "config reloaded" not in errors  # info lines stay below err


def test_stop_during_an_upload_exits_zero_in_time_and_the_item_resumes(
    unit: Box, sandbox: HostSandbox, tmp_path: Path
) -> None:
    sandbox.faults(storage_bytes_per_second=10_000)  # about 15 s for this clip
    drop(unit, tmp_path, "long", seconds=4.0, width=376)
    unit.wait(lambda: "in flight (1)" in unit.out("pqdrop status"), 30, "the upload")
    started = time.monotonic()
    unit.run(STOP)
    took = time.monotonic() - started
    shown = unit.show("pqdrop", "ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
    assert took < 15, (took, journal(unit).splitlines()[-40:])  # TimeoutStopSec
    assert (shown["ActiveState"], shown["Result"], shown["ExecMainStatus"]) == ("inactive", "success", "0")
    assert not unit.exists(f"{INBOX}/sent/long.status.json")
    sandbox.faults(storage_bytes_per_second=None)
    unit.run("systemctl start pqdrop")
    assert filed(unit, "long")["publishId"]


def test_a_hung_main_loop_is_killed_by_the_watchdog_and_restarted_with_its_stack_in_the_journal(unit: Box) -> None:
    unit.run("mkdir -p /etc/systemd/system/pqdrop.service.d && "
             "printf '[Service]\\nWatchdogSec=4\\nRestartSec=1\\n' > /etc/systemd/system/pqdrop.service.d/fast.conf && "
             "systemctl daemon-reload && systemctl restart pqdrop")
    hung = unit.show("pqdrop", "MainPID")["MainPID"]
    unit.run("systemctl kill --signal=SIGSTOP --kill-who=main pqdrop")

    def restarted() -> bool:
        shown = unit.show("pqdrop", "MainPID", "ActiveState")
        return shown["MainPID"] not in ("0", hung) and shown["ActiveState"] == "active"

    unit.wait(restarted, 60, "a new main process")
    text = journal(unit)
    assert "Watchdog timeout" in text
    assert "Fatal Python error: Aborted" in text
    assert "Current thread" in text or "Thread 0x" in text
    assert int(unit.show("pqdrop", "NRestarts")["NRestarts"]) >= 1
    unit.run("rm -r /etc/systemd/system/pqdrop.service.d && systemctl daemon-reload")
