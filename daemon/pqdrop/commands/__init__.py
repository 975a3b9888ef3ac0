"""The `pqdrop` command line: parse arguments, load config, hand over to the right module.

Heavy modules (PyAV, the sandbox, httpx) are imported inside the commands that need them,
so `pqdrop --help` stays quick.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pqdrop.errors import ConfigError, PqdropError

# pqdrop.config (pydantic) costs most of a cold start: loaded in the commands that need it, so
# `pqdrop --help` stays quick.
if TYPE_CHECKING:
    from pqdrop.config import Config
    from pqdrop.postqued import PostQued

EXIT_USAGE = 2
SANDBOX_KEY = "pq_sandbox"  # the key `pqdrop sandbox` accepts, as the README says


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
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], help=help_text, description=help_text)

    command("run", "watch the inbox until SIGTERM/SIGINT")
    command("once", "process everything in the inbox now, then exit")
    command("demo", "the whole flow on a throw-away folder against the built-in sandbox")
    sandbox = command("sandbox", "run the built-in PostQued-compatible server on loopback")
    sandbox.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0 picks one)")
    check = command("check", "validate sidecars and media without uploading")
    check.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the inbox)")
    status = command("status", "what is waiting, in flight, scheduled, and recently done or failed")
    status.add_argument("--json", action="store_true", help="print the same as JSON, for scripts")
    command("accounts", "the platform accounts the API key can post to")
    retry = command("retry", "put failed items back into the inbox")
    retry.add_argument("names", nargs="*", metavar="NAME", help="items in failed/ to retry")
    retry.add_argument("--all", action="store_true", help="retry every item in failed/")
    command("init", "write a commented starter config")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    args.verbose = getattr(args, "verbose", False)
    setup_logging(args.verbose)
    args.signals = _Signals()
    if args.command in ("run", "once"):
        # Before anything slow: a stop during start-up must end as cleanly as one later.
        _install_signal_handlers(args.signals)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"pqdrop: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "demo":
        from pqdrop.commands.demo import run_demo

        return run_demo()
    if command == "sandbox":
        return _sandbox(args.port)
    if command == "init":
        from pqdrop.commands.init import starter_path, write_starter_config

        return write_starter_config(starter_path(args.config, os.environ))
    if command == "check":
        from pqdrop.commands.check import check_paths

        return check_paths(_config_for_check(args), [Path(path) for path in args.paths])
    from pqdrop.config import find_config_path, load_config

    config = load_config(find_config_path(args.config, os.environ))
    if command == "status":
        from pqdrop.commands.report import print_status

        return print_status(config, as_json=args.json)
    if command == "retry":
        from pqdrop.commands.report import retry_failed

        return retry_failed(config, args.names, every=args.all)
    with _client(config) as client:
        if command == "accounts":
            return _accounts(client)
        return _serve(config, client, args.signals, daemon=command == "run")


def _client(config: Config) -> PostQued:
    from pqdrop.config import resolve_api_key
    from pqdrop.postqued import PostQued
    from pqdrop.ratelimit import RateLimiter, budget_path

    limits = config.postqued.rate_limits
    key = resolve_api_key(config, os.environ)
    # Every pqdrop on this machine using this key draws from one budget (issue 17: one inbox per client).
    limiter = RateLimiter(
        {"upload": limits.upload, "read": limits.read, "publish": limits.publish, "delete": limits.delete},
        limits.window_seconds,
        budget=budget_path(key, config.postqued.base_url),
    )
    return PostQued(config.postqued.base_url, key, limiter=limiter, timeout_seconds=config.postqued.timeout_seconds)


def _serve(config: Config, client: PostQued, signals: _Signals, *, daemon: bool) -> int:
    from pqdrop.commands.report import print_round
    from pqdrop.journal import Journal
    from pqdrop.service import Service
    from pqdrop.systemd import HEARTBEAT_FILE, Pulse
    from pqdrop.workers import Workers, once

    stop, wake, reload = signals.stop, signals.wake, signals.reload
    if not daemon and not config.inbox.path.is_dir():
        raise ConfigError(f"[inbox].path {config.inbox.path} is not a folder; create it (or mount the share) first")
    journal = Journal(config.state.dir)
    # The daemon's heartbeat file tells a container's HEALTHCHECK that its loop still turns.
    pulse = Pulse.from_environment(heartbeat=config.state.dir / HEARTBEAT_FILE if daemon else None)
    svc = Workers(config, client, journal, stop=stop, pulse=pulse)
    # Everything loaded so far lives as long as the process: keep the collector from walking it
    # again on every scan (bench/watch.py: a quarter of poll-mode CPU was garbage collection).
    gc.freeze()
    code = 1
    try:
        if daemon:
            source = config.source
            from pqdrop.config import load_config

            load = (lambda: load_config(source)) if source else None
            code = Service(svc, wake, reload, load).run()
        else:
            code, round_ = once(svc)
            print_round(round_, svc.look())
    finally:
        svc.close()
        if svc.abandoned:
            # A worker is stuck inside a request: leaving now is as safe as a crash (the journal is
            # written ahead) and keeps the stop within systemd's TimeoutStopSec.
            logging.shutdown()
            sys.stdout.flush()
            os._exit(code)
        journal.close()
    return code


def _accounts(client: PostQued) -> int:
    try:
        accounts = client.platform_accounts("tiktok")
    except PqdropError as exc:
        print(f"pqdrop: {exc.message}", file=sys.stderr)
        return 3
    width = max([len(account.username) for account in accounts] + [8])
    print(f"{'username':<{width}}  id")
    for account in accounts:
        print(f"{account.username:<{width}}  {account.id}")
    return 0


def _sandbox(port: int) -> int:
    from pqdrop.sandbox import Sandbox

    def leave(signum: int, _frame: object) -> None:
        raise SystemExit(0)  # unwinds serve_forever, which closes the socket

    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)  # set explicitly: a shell's background job inherits SIGINT ignored
    sandbox = Sandbox(port=port, api_keys=(SANDBOX_KEY,))
    print(f"PostQued sandbox on {sandbox.url} (API key {SANDBOX_KEY}); Ctrl-C or SIGTERM stops it", flush=True)
    sandbox.serve_forever()
    return 0


def _config_for_check(args: argparse.Namespace) -> Config | None:
    """`check` works without a config file; with one, it uses its defaults and inbox."""
    from pqdrop.config import CONFIG_ENV, find_config_path, load_config

    path = find_config_path(args.config, os.environ)
    if args.config or os.environ.get(CONFIG_ENV) or path.exists():
        return load_config(path)
    return None


@dataclass(frozen=True)
class _Signals:
    """What the signal handlers set: stop (TERM/INT), wake the loop, reload (HUP)."""

    stop: threading.Event = field(default_factory=threading.Event)
    wake: threading.Event = field(default_factory=threading.Event)
    reload: threading.Event = field(default_factory=threading.Event)


def _install_signal_handlers(signals: _Signals) -> None:
    """First SIGTERM/SIGINT: finish or checkpoint the step at hand and leave; a second: leave now.

    SIGHUP asks for a config reload. Handlers only set events (gunicorn's arbiter, uvicorn's handle_exit).
    """

    def handle_exit(signum: int, _frame: object) -> None:
        if signals.stop.is_set():
            os._exit(128 + signum)
        signals.stop.set()
        signals.wake.set()

    def handle_reload(_signum: int, _frame: object) -> None:
        signals.reload.set()
        signals.wake.set()

    signal.signal(signal.SIGTERM, handle_exit)
    signal.signal(signal.SIGINT, handle_exit)
    signal.signal(signal.SIGHUP, handle_reload)


def setup_logging(verbose: bool) -> None:
    """Plain lines on a terminal; under systemd, a syslog priority prefix that journald reads."""
    level = logging.DEBUG if verbose else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO lines carry request URLs


class _JournalFormatter(logging.Formatter):
    PRIORITIES = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

    def format(self, record: logging.LogRecord) -> str:
        return f"<{self.PRIORITIES.get(record.levelno, 6)}>{record.getMessage()}"
