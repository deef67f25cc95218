"""The ``slawatch`` command line.

Every sub-command builds the one :class:`~slawatch.settings.Settings` object from the
config file, ``SLAWATCH_*`` environment variables and its flags, then hands it to the
module that does the work. Heavy imports (faust, kafka) happen only in the commands
that need them, so ``slawatch policy check`` stays instant.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from slawatch import __version__
from slawatch.exceptions import SlawatchError
from slawatch.settings import Settings, load_settings

__all__ = ["build_parser", "main"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="settings file (YAML or TOML)")
    parser.add_argument("--broker", help="Kafka bootstrap servers (SLAWATCH_BROKER)")
    parser.add_argument(
        "--partitions", type=int, help="partitions of created topics (default: the existing input topic's, else 8)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slawatch", description="Real-time SLA monitoring for after-sales service tickets."
    )
    parser.add_argument("--version", action="version", version=f"slawatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "kafka",
        help="run a local single-node Kafka broker (KRaft) from Maven Central jars",
        description="start: download the jars once (cached), format the storage, start the broker in the "
        "background and wait until it serves; stop: stop the broker of --dir; status: whether it runs, "
        "where, and its listeners. The broker is for a laptop or CI, not production (docs/kafka-local.md).",
    )
    p.add_argument("action", choices=["start", "stop", "status"])
    p.add_argument(
        "--port", type=int, dest="kafka_port", metavar="PORT", help="broker port (default 9092; SLAWATCH_KAFKA_PORT)"
    )
    p.add_argument(
        "--controller-port", type=int, dest="kafka_controller_port", metavar="PORT",
        help="KRaft controller port (default 9093; SLAWATCH_KAFKA_CONTROLLER_PORT)",
    )  # fmt: skip
    p.add_argument(
        "--dir", type=Path, dest="kafka_dir", metavar="DIR",
        help="data directory of the broker (default kafka/ in the data dir ~/.local/share/slawatch)",
    )  # fmt: skip
    p.add_argument(
        "--kafka-version", dest="kafka_version", metavar="VERSION",
        help="Kafka release to run (default 3.9.1; SLAWATCH_KAFKA_VERSION)",
    )  # fmt: skip
    p.add_argument(
        "--secure",
        action="store_true",
        help="start: also listen with SASL_SSL, SSL and SASL_PLAINTEXT on the next three ports "
        "(self-signed TLS, one SASL user), to try the security settings",
    )
    p.add_argument("--config", type=Path, help="settings file (YAML or TOML)")

    p = sub.add_parser(
        "topics", help="create the input, dead-letter, alerts and tick topics and the tables' changelogs (idempotent)"
    )
    _common(p)

    p = sub.add_parser("worker", help="run the Faust worker: ingest, SLA clocks, alerts, metrics")
    _common(p)
    p.add_argument("--policy", type=Path, dest="policy_file")
    p.add_argument("--web-port", type=int, dest="web_port")
    p.add_argument("--store", choices=["memory", "rocksdb"])
    p.add_argument("--data-dir", type=Path, dest="data_dir")
    p.add_argument("--app-id", dest="app_id")

    p = sub.add_parser("run", help="quickstart: local broker + topics + worker + simulated traffic")
    _common(p)
    p.add_argument("--policy", type=Path, dest="policy_file")
    p.add_argument("--web-port", type=int, dest="web_port")
    p.add_argument(
        "--rate", type=float, default=1.0,
        help="peak new tickets per simulated second (1 at --speed 60: ~460 messages/s at the morning peak, "
        "within one worker's reach; see docs/simulator.md)",
    )  # fmt: skip
    p.add_argument("--speed", type=float, default=60.0, help="simulated time compression")
    p.add_argument("--no-simulator", action="store_true")

    p = sub.add_parser("backtest", help="replay a file of events through the SLA engine on event time")
    p.add_argument("events", help="JSON Lines or CSV export of events (.gz read transparently), or - for stdin")
    p.add_argument(
        "--format", choices=["jsonl", "csv"], default=None,
        help="default: csv for *.csv and *.csv.gz, otherwise jsonl (as for replay)",
    )  # fmt: skip
    p.add_argument("--policy", type=Path)
    p.add_argument("--until", help="RFC 3339 instant: advance the clock to it at the end")
    p.add_argument("--output", "-o", type=Path, help="alerts JSON Lines file (default stdout)")
    p.add_argument("--summary", type=Path, help="write the KPI summary (JSON) to this file")
    p.add_argument("--quiet", action="store_true", help="no summary on stderr")
    p.add_argument(
        "--strict", action="store_true",
        help="exit with status 1 when any line was invalid (to check a producer's events in CI)",
    )  # fmt: skip
    p.add_argument(
        "--sort", action="store_true",
        help="read the whole file first and replay each ticket's lines in time order, as the live "
        "worker applies a backlog (for exports not in occurred_at order, e.g. listed ticket by ticket)",
    )  # fmt: skip
    p.add_argument(
        "--retention-days", type=float, default=30.0,
        help="forget closed-out tickets this long after closing (as the worker's SLAWATCH_RETENTION_SECONDS)",
    )  # fmt: skip
    p.add_argument(
        "--retain-closed", type=int, default=50_000, metavar="N",
        help="keep the N most recently closed tickets however old (as SLAWATCH_RETAIN_CLOSED_TICKETS)",
    )  # fmt: skip

    p = sub.add_parser("policy", help="check or explain an SLA policy file")
    psub = p.add_subparsers(dest="policy_command", required=True)
    pc = psub.add_parser("check", help="validate a policy file and list every problem")
    pc.add_argument("file", type=Path, nargs="?", help="policy YAML (default: the built-in policy)")
    pe = psub.add_parser("explain", help="deadlines and warning instants of a ticket, and why")
    pe.add_argument("--policy", type=Path)
    pe.add_argument("--created", required=True, help="RFC 3339 creation time")
    pe.add_argument("--priority", required=True, choices=["normal", "urgent", "major"])
    pe.add_argument("--category", default="other")
    pe.add_argument("--tier", default="standard", dest="customer_tier")
    pe.add_argument("--channel", default=None, help="the ticket's channel, as override conditions match it")
    pe.add_argument("--department", default=None, help="also picks the escalation contacts (routing)")

    p = sub.add_parser("simulate", help="produce realistic ticket lifecycles (to Kafka or a file)")
    _common(p)
    p.add_argument("--rate", type=float, default=5.0, help="new tickets per (simulated) second")
    p.add_argument("--speed", type=float, default=1.0, help="time compression (60 = 1 min per s)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--tickets",
        type=int,
        default=None,
        help="stop once this many tickets have run their course (each lives days of simulated time, through "
        "resolution, survey and follow-up: divide by --speed for the wall-clock wait; --output writes at once)",
    )
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--start", default=None, help="simulated start instant (RFC 3339; default now)")
    p.add_argument("--malformed", type=float, default=0.0, help="share of malformed messages")
    p.add_argument("--duplicates", type=float, default=0.0, help="share of duplicate messages")
    p.add_argument("--output", "-o", type=Path, help="write JSON Lines here instead of Kafka")

    p = sub.add_parser("replay", help="publish a JSON Lines or CSV export of tickets to the input topic")
    _common(p)
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=["jsonl", "csv"], default=None)
    p.add_argument("--rate", type=float, default=None, help="messages per second (default: as fast as possible)")
    p.add_argument("--no-progress", action="store_true")
    return parser


def _settings(args: argparse.Namespace, *names: str) -> Settings:
    overrides = {n: getattr(args, n, None) for n in ("broker", "partitions", *names)}
    return load_settings(getattr(args, "config", None), **overrides)


def _dispatch(args: argparse.Namespace) -> int:
    cmd = args.command
    if cmd == "kafka":
        from slawatch import kafka_local

        s = _settings(args, "kafka_port", "kafka_controller_port", "kafka_dir", "kafka_version")
        return kafka_local.main(args.action, s, secure=args.secure)
    if cmd == "topics":
        from slawatch.streams import topics

        topics.prepare_topics(_settings(args), verbose=True)
        return 0
    if cmd == "worker":
        from slawatch.agents import worker

        s = _settings(args, "policy_file", "web_port", "store", "data_dir", "app_id")
        return worker.run_worker(s)
    if cmd == "run":
        from slawatch import quickstart

        s = _settings(args, "policy_file", "web_port")
        return quickstart.run(s, rate=args.rate, speed=args.speed, simulator=not args.no_simulator)
    if cmd == "backtest":
        from slawatch.sla import backtest

        return backtest.main(args)
    if cmd == "policy":
        from slawatch.sla import policy_cli

        return policy_cli.main(args)
    if cmd == "simulate":
        from slawatch import simulate

        return simulate.main(args, _settings(args))
    if cmd == "replay":
        from slawatch import replay

        return replay.main(args, _settings(args))
    msg = f"unknown command {cmd!r}"
    raise AssertionError(msg)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SlawatchError as exc:
        print(f"slawatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        if not _writes_stdout(args):
            raise
        # The reader of our stdout went away (`slawatch simulate -o - | head`): stop
        # quietly with the status of a process killed by SIGPIPE, as `cat` does, and keep
        # the interpreter's final flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _writes_stdout(args: argparse.Namespace) -> bool:
    if args.command == "simulate":
        return str(args.output) == "-"
    if args.command == "policy":
        return True  # check and explain print their reports there
    return args.command == "backtest" and not args.output


if __name__ == "__main__":
    raise SystemExit(main())
