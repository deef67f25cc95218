"""``slawatch worker``: check the configuration, create the topics, run the Faust worker.

Everything that can be wrong before Kafka is touched (a policy problem, two roles on
one topic, SASL without a password) is reported here as a :class:`ConfigError` naming
the setting and the fix, instead of surfacing minutes later as a Faust traceback.
SIGTERM and Ctrl-C stop the worker gracefully (mode's Worker handles the signals):
in-flight messages finish, the producer is flushed and offsets are committed, so a
restart re-reads nothing that was completely handled.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from slawatch.exceptions import ConfigError
from slawatch.settings import Settings
from slawatch.sla.policy import Policy, load_policy

__all__ = ["check_settings", "check_web_port", "run_worker", "worker_urls"]

log = logging.getLogger(__name__)


def check_settings(settings: Settings) -> None:
    """Cross-field checks the settings model cannot express; raise :class:`ConfigError`."""
    problems: list[str] = []
    topics = {
        "topic_events": settings.topic_events,
        "topic_dlq": settings.topic_dlq,
        "topic_alerts": settings.topic_alerts,
        "topic_ticks": settings.topic_ticks,
    }
    seen: dict[str, str] = {}
    for key, name in topics.items():
        if name in seen:
            problems.append(f"{key} and {seen[name]} are both {name!r}: give each role its own topic")
        seen[name] = key
    if any(size <= 0 for size in settings.window_sizes_seconds):
        problems.append("window_sizes_seconds: every size must be a positive number of seconds")
    if len(set(settings.window_sizes_seconds)) != len(settings.window_sizes_seconds):
        problems.append("window_sizes_seconds: sizes must be distinct")
    problems += settings.security_problems()
    if problems:
        msg = "invalid worker settings:\n  " + "\n  ".join(problems)
        raise ConfigError(msg)


def check_web_port(settings: Settings) -> None:
    """Refuse a web port another process listens on, before Kafka is touched: Faust finds
    out only after the topics are prepared, as a 40-line traceback, once the start-up
    banner has already printed the URLs as if all was well."""
    from slawatch.kafka_local import port_is_free

    try:
        free = port_is_free(settings.web_host, settings.web_port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        msg = (
            f"the worker cannot listen on web_host {settings.web_host!r}, port {settings.web_port}: {reason}; "
            "set SLAWATCH_WEB_HOST to an address of this host (127.0.0.1, or 0.0.0.0 for every interface) "
            "and --web-port / SLAWATCH_WEB_PORT to a port above 1023"
        )
        raise ConfigError(msg) from None
    if not free:
        msg = (
            f"web_port {settings.web_port} on {settings.web_host} is already in use by another process "
            f"(another worker?): choose a free port with --web-port or SLAWATCH_WEB_PORT"
        )
        raise ConfigError(msg)


def worker_urls(settings: Settings) -> dict[str, str]:
    """The worker's HTTP endpoints, for the start-up banner and the quickstart."""
    host = settings.web_host if settings.web_host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = f"http://{host}:{settings.web_port}"
    return {
        "metrics": f"{base}/metrics",
        "windows": f"{base}/sla/windows",
        "at_risk": f"{base}/sla/at-risk",
        "health": f"{base}/sla/health",
    }


def warn_calendars(policy: Policy, now: datetime | None = None) -> list[tuple[str, int]]:
    """Log calendars whose holiday preset lacks this year or the next."""
    year = (now or datetime.now(UTC)).year
    missing = policy.calendar_warnings(year, year + 1)
    for calendar, y in missing:
        log.warning(
            "calendar %r has no holiday list for %d: clocks in %d count working days "
            "without holidays; add them to the policy file (holidays/workdays)",
            calendar,
            y,
            y,
        )
    return missing


def run_worker(settings: Settings, **faust_options: Any) -> int:
    """Run one worker until SIGTERM/SIGINT; return the process exit code.

    ``faust_options`` are passed to the Faust app (tests shorten session timeouts).
    """
    import faust  # heavy: imported only when a worker really starts

    from slawatch.agents.app import create_worker
    from slawatch.streams.topics import prepare_topics

    logging.basicConfig(level=settings.log_level.upper())
    if logging.getLogger().level > logging.DEBUG:
        # kafka-python runs only the start-up admin client (prepare_topics). It logs ~100
        # INFO lines of connection chatter per start, and a refused login or handshake
        # as three ERROR/WARNING lines per retry for the whole bootstrap timeout, none
        # naming the cause. prepare_topics turns any failure into one BrokerError that
        # does (as `slawatch topics` shows it); SLAWATCH_LOG_LEVEL=debug shows them all.
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    check_settings(settings)
    check_web_port(settings)
    policy = load_policy(settings.policy_file)
    warn_calendars(policy)
    settings = prepare_topics(settings)
    worker = create_worker(settings, policy, **faust_options)
    urls = worker_urls(settings)
    print(
        f"slawatch worker {settings.app_id!r} on {settings.broker}: "
        f"metrics {urls['metrics']}, windows {urls['windows']}, "
        f"at-risk {urls['at_risk']}, health {urls['health']}",
        flush=True,
    )
    runner = faust.Worker(worker.app, loglevel=settings.log_level, quiet=True)
    try:
        runner.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
