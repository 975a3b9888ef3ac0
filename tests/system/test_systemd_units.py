"""The systemd units: accepted by systemd-analyze, wired to what the daemon reads, sandboxed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from pqdrop.config import CONFIG_ENV, CREDENTIAL_NAME

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SYSTEM_UNIT = UNITS / "pqdrop.service"
TEMPLATE_UNIT = UNITS / "pqdrop@.service"
USER_UNIT = UNITS / "user" / "pqdrop.service"
# systemd exports $MAINPID to ExecReload; $$ hands the shell the literal name. The shell's kill is
# a built-in: minimal images have no /bin/kill (issue 17).
RELOAD = "/bin/sh -c 'kill -HUP $$MAINPID'"

# The exposure `systemd-analyze security --offline=true` gave the system unit (systemd 252);
# what is left: the network the service exists for, the umask a shared inbox needs, the host root.
MAX_EXPOSURE = 1.1

needs_systemd_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)

Directives = dict[tuple[str, str], list[str]]


def parse_unit(path: Path) -> Directives:
    """(section, key) -> values in file order; units may repeat a key, which configparser refuses."""
    directives: Directives = defaultdict(list)
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        directives[(section, key.strip())].append(value.strip())
    return dict(directives)


def one(directives: Directives, key: str, section: str = "Service") -> str:
    values = directives.get((section, key), [])
    assert len(values) == 1, f"[{section}] {key}= should be set once, found {values}"
    return values[0]


def environment(directives: Directives) -> dict[str, str]:
    pairs = (item.split("=", 1) for value in directives.get(("Service", "Environment"), []) for item in value.split())
    return {name: value for name, value in pairs}


def runnable_copy(unit: Path, folder: Path, name: str | None = None) -> Path:
    """The unit with ExecStart's binary swapped for one that exists: verify insists on it."""
    text = unit.read_text(encoding="utf-8")
    true = shutil.which("true")
    assert true is not None
    swapped, count = re.subn(r"^ExecStart=\S+", f"ExecStart={true}", text, flags=re.MULTILINE)
    assert count == 1
    copy = folder / (name or unit.name)
    copy.write_text(swapped, encoding="utf-8")
    return copy


def complaints_about(unit_name: str, output: str) -> list[str]:
    return [line for line in output.splitlines() if unit_name in line]


@pytest.fixture(scope="module")
def system() -> Directives:
    return parse_unit(SYSTEM_UNIT)


@pytest.fixture(scope="module")
def user() -> Directives:
    return parse_unit(USER_UNIT)


@pytest.fixture(scope="module")
def template() -> Directives:
    return parse_unit(TEMPLATE_UNIT)


# --- systemd-analyze ---


@needs_systemd_analyze
def test_system_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = runnable_copy(SYSTEM_UNIT, tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert complaints_about(unit.name, result.stdout + result.stderr) == []


@needs_systemd_analyze
def test_template_unit_instance_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = runnable_copy(TEMPLATE_UNIT, tmp_path, "pqdrop@acme.service")
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert complaints_about("pqdrop@", result.stdout + result.stderr) == []


@needs_systemd_analyze
def test_user_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = runnable_copy(USER_UNIT, tmp_path)
    runtime = tmp_path / "runtime"  # a user manager needs $XDG_RUNTIME_DIR, a CI runner may have none
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(runtime)}
    result = subprocess.run(
        ["systemd-analyze", "--user", "verify", str(unit)], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert complaints_about(unit.name, result.stdout + result.stderr) == []


def _offline_security_supported() -> bool:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return False
    help_text = subprocess.run([analyze, "security", "--help"], capture_output=True, text=True, timeout=60).stdout
    return "--offline" in help_text


def exposure(unit: Path) -> float:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(rf"Overall exposure level for {re.escape(unit.name)}: (\d+(?:\.\d+)?)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    return float(match.group(1))


needs_offline_security = pytest.mark.skipif(
    not _offline_security_supported(), reason="systemd-analyze security --offline needs systemd 250+"
)


@needs_offline_security
def test_system_unit_exposure_score_is_at_most_the_recorded_one() -> None:
    assert exposure(SYSTEM_UNIT) <= MAX_EXPOSURE


@needs_offline_security
def test_template_unit_instance_exposure_score_is_at_most_the_system_units(tmp_path: Path) -> None:
    instance = tmp_path / "pqdrop@acme.service"
    instance.write_text(TEMPLATE_UNIT.read_text(encoding="utf-8"), encoding="utf-8")
    assert exposure(instance) <= MAX_EXPOSURE


# --- the system unit: what the daemon relies on ---


def test_system_unit_is_a_notify_service_only_the_main_process_may_notify(system: Directives) -> None:
    assert (one(system, "Type"), one(system, "NotifyAccess")) == ("notify", "main")


def test_system_unit_watchdog_is_sixty_seconds(system: Directives) -> None:
    assert one(system, "WatchdogSec") == "60"


def test_system_unit_restarts_on_failure_but_not_on_a_bad_config(system: Directives) -> None:
    assert one(system, "Restart") == "on-failure"
    # CONTRACT: 2 = unusable configuration; 65 = a damaged journal
    assert one(system, "RestartPreventExitStatus") == "2 65"
    assert one(system, "RestartSec") == "10s"


def test_system_unit_stop_timeout_leaves_room_for_the_ten_second_shutdown(system: Directives) -> None:
    assert one(system, "TimeoutStopSec") == "15"
    assert one(system, "KillMode") == "mixed"


def test_system_unit_reload_sends_sighup_to_the_main_process_without_bin_kill(system: Directives) -> None:
    assert one(system, "ExecReload") == RELOAD


def test_system_unit_runs_the_installed_daemon(system: Directives) -> None:
    assert one(system, "ExecStart") == "/usr/local/bin/pqdrop run"


def test_system_unit_names_the_config_in_etc_through_the_variable_the_daemon_reads(system: Directives) -> None:
    assert one(system, "ConfigurationDirectory") == "pqdrop"
    assert environment(system)[CONFIG_ENV] == "%E/pqdrop/config.toml"


def test_system_unit_loads_the_api_key_as_the_credential_the_daemon_reads(system: Directives) -> None:
    assert one(system, "LoadCredential") == f"{CREDENTIAL_NAME}:/etc/pqdrop/api_key"


def test_system_unit_runs_as_its_own_static_user(system: Directives) -> None:
    assert (one(system, "User"), one(system, "Group")) == ("pqdrop", "pqdrop")
    assert ("Service", "DynamicUser") not in system


def test_system_unit_keeps_its_journal_in_a_state_directory(system: Directives) -> None:
    assert one(system, "StateDirectory") == "pqdrop"


def test_system_units_share_the_rate_budget_folder_and_keep_it_when_one_stops(
    system: Directives, template: Directives, user: Directives
) -> None:
    for unit in (system, template, user):
        assert (one(unit, "RuntimeDirectory"), one(unit, "RuntimeDirectoryPreserve")) == ("pqdrop", "yes")


def test_system_unit_starts_after_the_network_and_the_inbox_mount(system: Directives) -> None:
    assert one(system, "After", "Unit") == "network-online.target"
    assert one(system, "Wants", "Unit") == "network-online.target"
    assert one(system, "RequiresMountsFor", "Unit") == one(system, "ReadWritePaths")


def test_system_unit_is_enabled_for_multi_user_boot(system: Directives) -> None:
    assert one(system, "WantedBy", "Install") == "multi-user.target"


# --- the system unit: the sandbox ---


SYSTEM_SANDBOX = {
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "DevicePolicy": "closed",
    "PrivateMounts": "yes",
    "PrivateIPC": "yes",
    "PrivateUsers": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "ProtectProc": "invisible",
    "ProcSubset": "pid",
    "RemoveIPC": "yes",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "AmbientCapabilities": "",
    "RestrictSUIDSGID": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "SystemCallErrorNumber": "EPERM",
    "UMask": "0007",
}


@pytest.mark.parametrize(("key", "value"), SYSTEM_SANDBOX.items(), ids=list(SYSTEM_SANDBOX))
def test_system_unit_sets_sandbox_directive(system: Directives, key: str, value: str) -> None:
    assert one(system, key) == value


def test_system_unit_can_write_only_its_inbox_besides_its_state(system: Directives) -> None:
    assert system[("Service", "ReadWritePaths")] == ["/srv/pqdrop/inbox"]


def test_system_unit_sockets_are_limited_to_unix_and_internet(system: Directives) -> None:
    assert set(one(system, "RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def test_system_unit_system_calls_are_the_service_set_minus_privileged_and_resources(system: Directives) -> None:
    assert system[("Service", "SystemCallFilter")] == ["@system-service", "~@privileged @resources"]


def test_system_unit_keeps_internet_access(system: Directives) -> None:
    assert ("Service", "PrivateNetwork") not in system
    assert ("Service", "IPAddressDeny") not in system


# --- the user unit ---


def test_user_unit_is_a_notify_service_with_a_sixty_second_watchdog(user: Directives) -> None:
    assert (one(user, "Type"), one(user, "NotifyAccess"), one(user, "WatchdogSec")) == ("notify", "main", "60")


def test_user_unit_runs_the_pipx_installed_daemon(user: Directives) -> None:
    assert one(user, "ExecStart") == "%h/.local/bin/pqdrop run"


def test_user_unit_names_the_config_in_the_users_config_home(user: Directives) -> None:
    assert environment(user)[CONFIG_ENV] == "%E/pqdrop/config.toml"


def test_user_unit_loads_the_api_key_as_the_credential_the_daemon_reads(user: Directives) -> None:
    assert one(user, "LoadCredential") == f"{CREDENTIAL_NAME}:%E/pqdrop/api_key"


def test_user_unit_restarts_on_failure_and_stops_within_fifteen_seconds(user: Directives) -> None:
    assert (one(user, "Restart"), one(user, "TimeoutStopSec")) == ("on-failure", "15")


def test_user_unit_reload_sends_sighup_to_the_main_process_without_bin_kill(user: Directives) -> None:
    assert one(user, "ExecReload") == RELOAD


def test_user_unit_is_enabled_for_the_default_target(user: Directives) -> None:
    assert one(user, "WantedBy", "Install") == "default.target"


def test_user_unit_explains_lingering_for_running_without_a_login() -> None:
    assert "loginctl enable-linger" in USER_UNIT.read_text(encoding="utf-8")


USER_SANDBOX = {
    "NoNewPrivileges": "yes",
    "RestrictSUIDSGID": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "SystemCallErrorNumber": "EPERM",
    "UMask": "0077",
}


@pytest.mark.parametrize(("key", "value"), USER_SANDBOX.items(), ids=list(USER_SANDBOX))
def test_user_unit_sets_unprivileged_sandbox_directive(user: Directives, key: str, value: str) -> None:
    assert one(user, key) == value


def test_user_unit_system_calls_match_the_system_unit(user: Directives, system: Directives) -> None:
    assert user[("Service", "SystemCallFilter")] == system[("Service", "SystemCallFilter")]
    assert one(user, "RestrictAddressFamilies") == one(system, "RestrictAddressFamilies")


@pytest.mark.parametrize("key", ["ProtectSystem", "ProtectHome", "PrivateTmp", "PrivateDevices", "PrivateUsers"])
def test_user_unit_leaves_out_options_that_need_a_user_namespace(user: Directives, key: str) -> None:
    assert ("Service", key) not in user


# --- the template: one instance per inbox ---


def test_template_names_config_state_key_and_inbox_after_the_instance(template: Directives) -> None:
    assert environment(template)[CONFIG_ENV] == "%E/pqdrop/%i.toml"
    assert one(template, "StateDirectory") == "pqdrop/%i"
    assert one(template, "LoadCredential") == f"{CREDENTIAL_NAME}:/etc/pqdrop/%i.api_key"
    assert template[("Service", "ReadWritePaths")] == ["/srv/pqdrop/%i"]
    assert one(template, "RequiresMountsFor", "Unit") == "/srv/pqdrop/%i"


def test_template_differs_from_the_system_unit_only_where_the_instance_matters(
    template: Directives, system: Directives
) -> None:
    per_instance = {("Unit", "Description"), ("Unit", "RequiresMountsFor"), ("Service", "Environment"),
                    ("Service", "StateDirectory"), ("Service", "LoadCredential"), ("Service", "ReadWritePaths"),
                    ("Service", "SyslogIdentifier")}
    differing = {key for key in set(template) | set(system) if template.get(key) != system.get(key)}
    assert differing == per_instance
