"""The install commands the how-tos give (docs/how-to/), word for word; the service tests run exactly these.

tests/test_docs.py checks that each one appears in the how-tos, so the two cannot drift apart.
`{wheel}` is where the how-tos say `.` (a checkout): the box installs the wheel built from it.
"""

from __future__ import annotations

PIPX_PREREQUISITE = "python3 -m venv /opt/pipx-tool && /opt/pipx-tool/bin/pip install pipx && " \
    "ln -s /opt/pipx-tool/bin/pipx /usr/local/bin/pipx"  # stands in for `apt install pipx`

SYSTEM_INSTALL = (
    "useradd --system --user-group --home-dir /var/lib/pqdrop --shell /usr/sbin/nologin pqdrop",
    "install -d -m 2770 -g pqdrop /srv/pqdrop/inbox",
    "PIPX_HOME=/opt/pipx PIPX_BIN_DIR=/usr/local/bin pipx install {wheel}",
    "install -d -m 0755 /etc/pqdrop",
    "PQDROP_CONFIG=/etc/pqdrop/config.toml pqdrop init",
)
SYSTEM_KEY = "install -m 0600 /dev/stdin /etc/pqdrop/api_key"
SYSTEM_START = (
    "cp systemd/pqdrop.service /etc/systemd/system/",
    "systemctl daemon-reload",
    "systemctl enable --now pqdrop",
)

TEMPLATE_INSTALL = (
    "cp systemd/pqdrop@.service /etc/systemd/system/",
    "systemctl daemon-reload",
)
TEMPLATE_INSTANCE = (
    "install -d -m 2770 -g pqdrop /srv/pqdrop/{name}",
    "ln -s api_key /etc/pqdrop/{name}.api_key",
    "PQDROP_CONFIG=/etc/pqdrop/{name}.toml pqdrop init",
)
TEMPLATE_START = "systemctl enable --now pqdrop@{name}"
TEMPLATE_STATUS = "PQDROP_CONFIG=/etc/pqdrop/{name}.toml pqdrop status"

USER_INSTALL = (
    "pipx install {wheel}",
    "pqdrop init",
)
USER_KEY = "install -m 0600 /dev/stdin ~/.config/pqdrop/api_key"
USER_START = (
    "mkdir -p ~/.config/systemd/user && cp systemd/user/pqdrop.service ~/.config/systemd/user/",
    "systemctl --user daemon-reload && systemctl --user enable --now pqdrop",
)
LINGER = "loginctl enable-linger {user}"

RELOAD = "systemctl reload pqdrop"
STOP = "systemctl stop pqdrop"


def readme_forms() -> list[str]:
    """Every command above as the how-tos write it (a checkout's `.` for the wheel, $USER for the user)."""
    commands = [PIPX_PREREQUISITE.split(" && ")[0], *SYSTEM_INSTALL, SYSTEM_KEY, *SYSTEM_START, *TEMPLATE_INSTALL,
                *TEMPLATE_INSTANCE, TEMPLATE_START, TEMPLATE_STATUS, *USER_INSTALL, USER_KEY, *USER_START, LINGER,
                RELOAD, STOP]
    return [command.replace("{wheel}", ".").replace("{user}", "$USER").replace("{name}", "acme")
            for command in commands[1:]]
