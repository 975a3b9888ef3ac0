"""The `pqdrop` command line: parse arguments, load config, hand over to the verb's module.

One module per verb (run, once, demo, sandbox, check, status and its history, accounts, retry, init, notify,
health; `try` in trial). Heavy modules (PyAV, the sandbox, httpx, pydantic) are imported inside the verbs that
need them, so `pqdrop --help` stays quick and `status`, `retry` and `check` load neither PyAV nor httpx.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pqdrop.errors import (
    EXIT_DAMAGED,
    EXIT_FAILED,
    EXIT_TEMPFAIL,
    EXIT_USAGE,
    ConfigError,
    InboxBlocked,
    JournalDamaged,
    JournalError,
    ServiceUnavailable,
)
from pqdrop.names import shown
from pqdrop.secrecy import SECRETS
from pqdrop.service.daemon import Signals, install_signal_handlers

# pqdrop.config (pydantic) costs most of a cold start: loaded in the commands that need it, so
# `pqdrop --help` stays quick.
if TYPE_CHECKING:
    from pqdrop.config import Config


EXIT_BROKEN_PIPE = 128 + 13  # as a shell reports a command that SIGPIPE ended


def build_parser() -> argparse.ArgumentParser:
    # --config and -v work before or after the command: `pqdrop --config X run` and `pqdrop run --config X`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file (default: "
                        "$PQDROP_CONFIG, ~/.config/pqdrop/config.toml, /etc/pqdrop/config.toml)")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug details")
    parser = argparse.ArgumentParser(
        prog="pqdrop", parents=[common],
        description="Watch a folder and post what lands in it to TikTok through PostQued.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=help_text, description=help_text)

    command("run", "watch the inbox until SIGTERM/SIGINT")
    command("once", "process everything in the inbox now, then exit")
    demo = command("demo", "the whole flow on a throw-away folder against the built-in sandbox")
    demo.add_argument("--keep", action="store_true", help="keep the demo folder afterwards, to look at what it holds")
    sandbox = command("sandbox", "run the built-in PostQued-compatible server on loopback")
    sandbox.add_argument("--port", type=_port, default=8765, help="port on 127.0.0.1 (default 8765; 0 picks one)")
    sandbox.add_argument("--api", choices=("v1", "v2", "both"), default="both",
                         help="which PostQued API it speaks (default both; v2 only answers /v1 with 410)")
    sandbox.add_argument("--state", metavar="DIR", help="keep its posts and schedule in DIR/sandbox.json across "
                         "restarts (default: in memory, forgotten when it stops)")
    trial = command("try", "a trial in one command: an inbox, a config and the sandbox in DIR, the daemon in front")
    trial.add_argument("folder", nargs="?", metavar="DIR", default="pqdrop-trial",
                       help="where the trial lives (default ./pqdrop-trial); the same DIR again resumes it")
    check = command("check", "validate sidecars and media without uploading; with a key, accounts as once would")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the inbox)")
    status = command("status", "what is waiting, in flight, scheduled, and recently done or failed")
    status.add_argument("--json", action="store_true", help="print the same as JSON, for scripts")
    status.add_argument("--history", nargs="?", const="", default=None, metavar="NAME",
                        help="status.log told as a story, by day in your time zone; with NAME, that item's")
    command("accounts", "the platform accounts the API key can post to")
    retry = command("retry", "put failed items back into the inbox")
    retry.add_argument("names", nargs="*", metavar="NAME", help="items in failed/ to retry")
    retry.add_argument("--all", action="store_true", help="retry every item in failed/")
    retry.add_argument("--force", action="store_true",
                       help="put an item back even when the checks of `pqdrop check` say it still fails")
    command("init", "write a commented starter config")
    notify = command("notify", "send a test message through every configured notifier; say which worked")
    notify.add_argument("--test", action="store_true", required=True,
                        help="send the test message (exit 1 if any notifier failed)")
    command("health", "ask the running daemon's /healthz ([http] listen); exit 0 when healthy")
    cancel = command("cancel", "cancel a scheduled post; its item moves to canceled/")
    cancel.add_argument("name", metavar="NAME", help="the item in scheduled/")
    reschedule = command("reschedule", "move a scheduled post to another time (same formats as dispatchAt)")
    reschedule.add_argument("name", metavar="NAME", help="the item in scheduled/")
    reschedule.add_argument("when", metavar="WHEN", help="e.g. 2026-12-01T18:00:00+01:00, 2026-12-01T18:00, now, next")
    return parser


class _Version(argparse.Action):
    """`pqdrop --version`: the installed distribution's version, read only when asked (a quick --help)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:  # noqa: A002
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"pqdrop {version('pqdrop')}")
        except PackageNotFoundError:
            print("pqdrop (version unknown: run from a source tree that is not installed)")
        parser.exit()


def _port(text: str) -> int:
    """A TCP port for --port: 0 to 65535; argparse turns the refusal into a usage error (exit 2)."""
    if not text.strip().isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port; use a number from 1 to 65535, or 0 to pick a free one"
        )
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    args.verbose = getattr(args, "verbose", False)
    setup_logging(args.verbose)
    signals = Signals()
    if args.command in ("run", "once", "try"):
        # Every thread's stack on SIGABRT (systemd's watchdog signal) or a crash, whatever launched
        # us: pipx's entry points run `python -E`, so PYTHONFAULTHANDLER in a unit would be ignored.
        faulthandler.enable()
        # Before anything slow: a stop during start-up must end as cleanly as one later.
        install_signal_handlers(signals)
    try:
        return _dispatch(args, signals)
    except ConfigError as exc:
        print(f"pqdrop: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except JournalDamaged as exc:
        # A restart cannot mend a damaged file: the units' RestartPreventExitStatus= names EXIT_DAMAGED too.
        print(f"pqdrop: {exc.message}", file=sys.stderr)
        return EXIT_DAMAGED
    except (ServiceUnavailable, JournalError) as exc:
        # A passing trouble of this machine (the journal's disk, a twin's lock): systemd restarts the
        # unit, since RestartPreventExitStatus= names only EXIT_USAGE.
        print(f"pqdrop: {exc.message}; try again later", file=sys.stderr)
        return EXIT_TEMPFAIL
    except InboxBlocked as exc:
        # A file of the user's where pqdrop's folder goes (cancel's canceled/): the step waits, the file stays.
        print(f"pqdrop: {exc.message}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`pqdrop status --json | head`): nothing to say to it, nor to anyone else.
        # Whatever is still buffered would fail again at exit, so stdout now leads nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _dispatch(args: argparse.Namespace, signals: Signals) -> int:
    command: str = args.command
    if command == "demo":
        from pqdrop.commands.demo import run_demo

        return run_demo(keep=args.keep)
    if command == "sandbox":
        from pqdrop.commands.sandbox import serve_sandbox

        return serve_sandbox(args.port, args.api, None if args.state is None else Path(args.state))
    if command == "try":
        from pqdrop.commands.trial import run_trial

        return run_trial(Path(args.folder), signals)
    if command == "init":
        from pqdrop.commands.init import starter_path, write_starter_config

        return write_starter_config(starter_path(args.config, os.environ), os.environ)
    if command == "check":
        from pqdrop.commands.check import check_paths

        return check_paths(_config_for_check(args), [Path(path) for path in args.paths])
    from pqdrop.config import find_config_path, load_config

    config = load_config(find_config_path(args.config, os.environ))
    if command == "status":
        if args.history is not None:
            from pqdrop.commands.history import print_history

            return print_history(config, args.history)
        from pqdrop.commands.status import print_status

        return print_status(config, as_json=args.json)
    if command == "notify":
        from pqdrop.commands.notify import test_notifiers

        return test_notifiers(config)
    if command == "health":
        from pqdrop.commands.health import check_health

        return check_health(config)
    if command == "retry":
        from pqdrop.commands.retry import retry_failed

        return retry_failed(config, args.names, every=args.all, force=args.force)
    if command in ("cancel", "reschedule"):
        from pqdrop.commands.cancel import cancel_item
        from pqdrop.commands.reschedule import reschedule_item
        from pqdrop.commands.run import connect

        if command == "cancel":
            return cancel_item(config, args.name, lambda: connect(config, patient=False))
        return reschedule_item(config, args.name, args.when, lambda: connect(config, patient=False))
    if command == "accounts":
        from pqdrop.commands.accounts import list_accounts

        return list_accounts(config)
    if command == "once":
        from pqdrop.commands.once import run_once

        return run_once(config, signals)
    from pqdrop.commands.run import run_daemon

    return run_daemon(config, signals)


def _config_for_check(args: argparse.Namespace) -> Config | None:
    """`check` works without a config file; with one, it uses its defaults and inbox."""
    from pqdrop.config import CONFIG_ENV, find_config_path, load_config

    path = find_config_path(args.config, os.environ)
    if args.config or os.environ.get(CONFIG_ENV) or path.exists():
        return load_config(path)
    return None


def setup_logging(verbose: bool) -> None:
    """Plain lines on a terminal; under systemd, a syslog priority prefix that journald reads.

    Every message goes through `shown`: a file name's line feed or ESC is written as `\\n` or `\\x1b`
    (never a forged journald line, never a terminal escape), and its bytes that are not UTF-8 as
    `\\xe9`, at every level alike.
    """
    level = logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter())
    else:
        handler.setFormatter(_ShownFormatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S %Z"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry request URLs


class _ShownFormatter(logging.Formatter):
    """A formatter whose message is shown as names are (`shown`): one line, printable, UTF-8."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        # format() sets it anew from the record for each handler; the API key never reaches a log (secrecy.py).
        record.message = SECRETS.withheld(shown(record.message))
        return super().formatMessage(record)


class _JournalFormatter(_ShownFormatter):
    PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        return f"<{self.PRIORITIES.get(record.levelno, 6)}>{SECRETS.withheld(shown(record.getMessage()))}"
