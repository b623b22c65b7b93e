"""``entryscan``: the command line. Exit 0 = job done (a deny is a job done), 2 = usage, 78 = bad config."""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from entryscan.device import __version__
from entryscan.device.errors import ConfigError, DecoderError, EntryscanError, NotProvisioned, one_line

if TYPE_CHECKING:
    from entryscan.device.config.settings import Config

EX_USAGE = 2
EX_CONFIG = 78
EX_SOFTWARE = 70
JOURNAL_STATES = ("not_yet_sent", "refused_by_broker", "awaiting_confirmation")

log = logging.getLogger("entryscan")


def _config_path(args: argparse.Namespace) -> Path:
    from entryscan.device.config.settings import default_config_path

    return Path(args.config) if args.config else default_config_path(dict(os.environ))


def cmd_run(args: argparse.Namespace) -> int:
    from entryscan.device.config.settings import load_config

    cfg = load_config(_config_path(args))
    from entryscan.device.delivery.journal_schema import check_version
    from entryscan.device.hardware.lock import HardwareLock, lock_path

    check_version(cfg.journal.path)  # a journal of a newer entryscan: exit 78 before any pin or camera is touched

    lock = HardwareLock(lock_path(cfg.journal.path)).acquire()  # before the camera or a pin is opened
    try:
        return _run_daemon(args, cfg)
    finally:
        lock.release()


def _run_daemon(args: argparse.Namespace, cfg: Config) -> int:
    from entryscan.device.builder import build
    from entryscan.device.daemon import Daemon, watchdog_interval
    from entryscan.device.hardware.feedback import ConsoleLights
    from entryscan.device.hardware.sdnotify import SystemdNotifier

    parts = build(cfg, simulate=args.simulate, on_event=print_decision if args.simulate else None)
    log.info("entryscan %s starting: %s", __version__, cfg.describe())
    env = dict(os.environ)
    daemon = Daemon(parts, SystemdNotifier.from_environment(env), watchdog_interval(env))
    daemon.install_signal_handlers()
    lights = ConsoleLights(parts.feedback) if args.simulate else None
    if lights:
        lights.start()
    try:
        return daemon.run()
    finally:
        if lights:
            lights.stop()


def print_decision(event: dict[str, object]) -> None:
    """The simulated door's own line per scan (the collector prints what it received)."""
    seq = event.get("seq", "unjournaled")
    print(f"  [door] #{seq} {str(event['decision']).upper()} {event['reason']} ({event['credential_type']})",
          flush=True)


def cmd_decode(args: argparse.Namespace) -> int:
    from entryscan.device.scan.decoders import load_grey
    from entryscan.device.scan.filescan import FileScanner

    decoder = FileScanner(args.backend)
    status = 0
    for path in args.images:
        try:
            codes = decoder.decode(load_grey(path))
        except DecoderError as exc:
            print(json.dumps({"path": path, "error": str(exc)}))
            status = 1
            continue
        out = [{"text": c.text, "bytes_b64": base64.b64encode(c.raw).decode("ascii")} for c in codes]
        print(json.dumps({"path": path, "codes": out}, ensure_ascii=False))
    return status


def cmd_check(args: argparse.Namespace) -> int:
    from entryscan.device.cli.check import check_payloads

    return check_payloads(_config_path(args), args.at, args.text, args.image, args.backend)


def cmd_journal(args: argparse.Namespace) -> int:
    from entryscan.device.access.clock import SystemClock
    from entryscan.device.builder import make_journal_opener
    from entryscan.device.config.settings import load_config

    cfg = load_config(_config_path(args))
    if not cfg.journal.path.exists():
        raise ConfigError("journal.path", f"{cfg.journal.path} does not exist yet")
    journal = make_journal_opener(cfg, SystemClock())()
    try:
        rows = journal.rows(due_only=args.due)
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        summary: dict[str, object] = {"backlog": journal.backlog(), "refused": journal.refused()}
        summary.update({state: sum(1 for r in rows if r["state"] == state) for state in JOURNAL_STATES})
        print(json.dumps(summary), file=sys.stderr)
    finally:
        journal.close()
    return 0


def cmd_selftest(args: argparse.Namespace) -> int:
    from entryscan.device.cli.selftest import run_selftest

    return run_selftest(_config_path(args))


def cmd_outputs_off(args: argparse.Namespace) -> int:
    from entryscan.device.hardware.outputs_off import run_outputs_off

    return run_outputs_off(_config_path(args))


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="entryscan", description="entryscan: QR entry scanner firmware and field tools.",
        epilog="Exit status: 0 job done (a deny is a job done), 2 usage error, 78 bad config, 70 other failure.")
    parser.add_argument("--version", action="version", version=f"entryscan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the scanner daemon")
    run.add_argument("--config", help="config file (default $ENTRYSCAN_CONFIG or /etc/entryscan/config.toml)")
    run.add_argument("--simulate", action="store_true", help="mock GPIO drawn on the console; no Pi needed")
    run.set_defaults(func=cmd_run)

    dec = sub.add_parser("decode", help="decode QR codes in image files (one JSON object per line)")
    dec.add_argument("images", nargs="+", metavar="IMAGE")
    dec.add_argument("--backend", choices=("auto", "zxing", "zbar"), default="auto")
    dec.set_defaults(func=cmd_decode)

    chk = sub.add_parser("check", help="the full decision for one payload, as JSON")
    chk.add_argument("--config")
    chk.add_argument("--at", metavar="ISO8601", help="evaluate at this time, with the clock taken as synchronised")
    chk.add_argument("--backend", choices=("auto", "zxing", "zbar"), default="auto")
    what = chk.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", metavar="PAYLOAD")
    what.add_argument("--image", metavar="PATH")
    chk.set_defaults(func=cmd_check)

    jr = sub.add_parser(
        "journal", help="what the local journal holds (no personal data)",
        description="One JSON line per undelivered row (a delivered row is deleted), with its state: not_yet_sent "
                    "(no send the broker acknowledged), refused_by_broker (attempts, last_error), or "
                    "awaiting_confirmation (the broker took it `sends` times since `sent_since`; the collector has "
                    "not confirmed it). Then a summary on stderr: backlog, refused, and the count of each state.")
    jr.add_argument("--config")
    jr.add_argument("--pending", action="store_true",
                    help="every row not yet delivered, with its state (the journal holds no other rows; kept for "
                         "scripts that pass it)")
    jr.add_argument("--due", action="store_true",
                    help="only rows that go out at the next chance (not waiting out a backoff or a confirmation)")
    jr.set_defaults(func=cmd_journal)

    st = sub.add_parser("selftest", help="on a Pi: camera, LEDs, buzzer, broker, clock; prints a table")
    st.add_argument("--config")
    st.set_defaults(func=cmd_selftest)

    off = sub.add_parser("outputs-off", help="drive the relay, LEDs and buzzer off (the unit's ExecStopPost)")
    off.add_argument("--config")
    off.set_defaults(func=cmd_outputs_off)

    _register_extensions(sub)
    return parser


def _register_extensions(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from entryscan.device.cli.csr import register as register_csr
    from entryscan.device.cli.issuer import register
    from entryscan.device.cli.provision import register as register_provisioning

    register(sub)
    register_provisioning(sub)
    register_csr(sub)


def setup_logging(verbose: bool) -> None:
    # Under systemd, journald adds time and unit; elsewhere a short time helps the console.
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("INVOCATION_ID") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt, stream=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    try:
        code: int = args.func(args)
        return code
    except ConfigError as exc:
        print(f"entryscan: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    except NotProvisioned as exc:  # wiped: one line, and the same status as a missing config
        print(f"entryscan: {exc}", file=sys.stderr)
        return EX_CONFIG
    except EntryscanError as exc:
        print(f"entryscan: {exc}", file=sys.stderr)
        return EX_SOFTWARE
    except OSError as exc:  # the machine, not the config: one line, and systemd retries
        print(f"entryscan: {one_line(str(exc), 240)}", file=sys.stderr)
        return EX_SOFTWARE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
