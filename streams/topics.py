"""The topics slawatch reads and writes, created idempotently.

Why explicit creation: the local broker (and most production clusters) disable topic
auto-creation, and a topic auto-created with one partition would silently break the
co-partitioning of the input topic and the worker's ticks topic (both are read by the
same agent and must have the same partition count, or a ticket's events and its timer
ticks land on different workers). So ``slawatch topics`` and every worker start create
what is missing with ``settings.partitions`` partitions and refuse, with the fix, when
an existing co-partitioned topic has another count.

The input topic belongs to upstream: when it already exists and no partition count was
configured, the worker follows it (:func:`follow_input_topic`), as Kafka Streams sizes
its internal topics from their source topic.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from slawatch.exceptions import BrokerError
from slawatch.settings import Settings
from slawatch.streams.clients import connection_problem, make_admin

__all__ = [
    "TICKETS_TABLE",
    "TopicReport",
    "changelog_topics",
    "copartitioned_topics",
    "default_partition",
    "ensure_topics",
    "follow_input_topic",
    "other_window_sizes",
    "prepare_topics",
    "topic_names",
    "window_table_name",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicReport:
    """What ``ensure_topics`` found or did for one topic."""

    name: str
    partitions: int
    created: bool


def topic_names(settings: Settings) -> list[str]:
    """Input, dead-letter, alerts and the worker's ticks topic, in that order."""
    return [settings.topic_events, settings.topic_dlq, settings.topic_alerts, settings.topic_ticks]


def copartitioned_topics(settings: Settings) -> set[str]:
    """Topics the ingest agent reads together: their partition counts must be equal."""
    return {settings.topic_events, settings.topic_ticks}


def _existing_partitions(admin: Any, names: Iterable[str]) -> dict[str, int]:
    """Partition counts of the topics among ``names`` that exist."""
    wanted = set(names)
    existing = wanted & set(admin.list_topics())
    if not existing:
        return {}
    counts: dict[str, int] = {}
    for desc in admin.describe_topics(sorted(existing)):
        if desc.get("error_code", 0) == 0:
            counts[desc.get("topic") or desc["name"]] = len(desc.get("partitions") or [])
    return counts


def prepare_topics(settings: Settings, *, verbose: bool = False, timeout: float = 30.0) -> Settings:
    """A worker's start (also ``slawatch topics`` and ``slawatch run``): follow the input
    topic (:func:`follow_input_topic`), then create what is missing
    (:func:`ensure_topics`, then the tables' changelogs), over one admin connection;
    return the settings to run with."""
    with _admin_client(settings, timeout) as admin:
        settings = follow_input_topic(settings, timeout=timeout, admin=admin)
        changelogs = changelog_topics(settings)
        names = [*topic_names(settings), *changelogs]
        ensure_topics(settings, names, configs=changelogs, verbose=verbose, timeout=timeout, admin=admin)
        others = other_window_sizes(admin.list_topics(), settings.app_id, settings.window_sizes_seconds)
    if others:
        log.warning(
            "app %s has window tables of %s s (changelog topics %s) besides this worker's %s s: every "
            "worker of one app id must run with the same SLAWATCH_WINDOW_SIZES_SECONDS (each window "
            "table would hold only its own workers' partitions); if no worker uses them any more, "
            "they are left from an earlier setting and may be deleted",
            settings.app_id,
            ", ".join(str(n) for n in others),
            ", ".join(_window_changelog(settings.app_id, n) for n in others),
            ", ".join(str(n) for n in settings.window_sizes_seconds),
        )
    return settings


#: The worker's table of ticket states (its changelog: ``<app id>-tickets-changelog``).
TICKETS_TABLE = "tickets"


def changelog_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """The worker's table changelog topics and the configuration Faust gives them.

    Faust creates them when a worker starts, but several workers starting together on
    a fresh app id met a changelog topic not yet in their metadata: "has 0 partitions",
    the ingest agent crashed and restarted for ~16 s, and the window increments of the
    events it was applying were lost. Created here first, with Faust's own settings (a
    table's changelog compacted; a windowed table's also deleted after the windows
    expire), they exist before any worker subscribes; Faust leaves existing topics as
    they are.
    """
    topics = {f"{settings.app_id}-{TICKETS_TABLE}-changelog": {"cleanup.policy": "compact"}}
    retention_ms = str(int(settings.window_expires_seconds * 1000))
    for size in settings.window_sizes_seconds:
        topics[_window_changelog(settings.app_id, size)] = {
            "cleanup.policy": "compact,delete",
            "retention.ms": retention_ms,
        }
    return topics


def window_table_name(size: int) -> str:
    """The name of the worker's windowed table of ``size`` seconds."""
    return f"windows-{size}s"


def _window_changelog(app_id: str, size: int) -> str:
    """Faust names a table's changelog topic ``<app id>-<table name>-changelog``."""
    return f"{app_id}-{window_table_name(size)}-changelog"


def other_window_sizes(topics: Iterable[str], app_id: str, sizes: Iterable[int]) -> list[int]:
    """Window sizes of ``app_id`` that have a changelog topic but are not in ``sizes``.

    Workers of one app id share Kafka's consumer group and divide the partitions among
    them; one started with other window sizes keeps other window tables, and the
    windows of each then cover only part of the tickets. Its tables' changelogs are
    what a worker can see of it at start-up.
    """
    pattern = re.compile(re.escape(app_id) + r"-windows-(\d+)s-changelog")
    mine = set(sizes)
    found = {int(m.group(1)) for m in map(pattern.fullmatch, topics) if m}
    return sorted(found - mine)


def follow_input_topic(settings: Settings, *, timeout: float = 30.0, admin: Any = None) -> Settings:
    """``settings`` with the input topic's partition count, when that topic exists and
    no count was configured (file, environment or flag).

    A topic upstream created first (or a cluster's auto-creation, one partition by
    default) would otherwise stop the worker at start-up over a count it never chose.
    A configured count is kept, and a mismatch is refused by :func:`ensure_topics`.
    Raises :class:`BrokerError` when the broker cannot be reached.
    """
    if "partitions" in settings.model_fields_set:
        return settings
    with _admin_client(settings, timeout, admin) as client:
        count = _existing_partitions(client, [settings.topic_events]).get(settings.topic_events)
    if count is None or count == settings.partitions:
        return settings
    log.warning(
        "input topic %s exists with %d partitions: using %d (no partition count was configured; "
        "SLAWATCH_PARTITIONS or --partitions sets one)",
        settings.topic_events, count, count,
    )  # fmt: skip
    return settings.model_copy(update={"partitions": count})


def ensure_topics(
    settings: Settings,
    names: Iterable[str] | None = None,
    *,
    configs: Mapping[str, Mapping[str, str]] | None = None,
    verbose: bool = False,
    timeout: float = 30.0,
    admin: Any = None,
) -> list[TopicReport]:
    """Create the missing topics among ``names`` (default: all of :func:`topic_names`).

    Idempotent: existing topics are left as they are. Raises :class:`BrokerError` when
    the broker cannot be reached, or, when ``names`` holds both co-partitioned topics (a
    worker's start), when one of them has a partition count other than
    ``settings.partitions``. ``configs``: topic configuration for those of ``names`` that
    need one (the tables' changelogs), applied when they are created. ``admin``: an open
    admin client to use (default: its own).
    """
    kafka_types = _kafka_types()
    wanted = list(dict.fromkeys(names if names is not None else topic_names(settings)))
    reports: list[TopicReport] = []
    with _admin_client(settings, timeout, admin) as client:
        existing = _existing_partitions(client, wanted)
        missing = [n for n in wanted if n not in existing]
        for name in missing:
            try:
                config = dict(configs.get(name, {})) if configs is not None else {}
                new = kafka_types.NewTopic(name, settings.partitions, settings.replication_factor, topic_configs=config)
                client.create_topics([new], timeout_ms=int(timeout * 1000))
                created = True
            except kafka_types.TopicAlreadyExistsError:
                created = False  # another worker created it a moment ago
            reports.append(TopicReport(name, settings.partitions, created))
        if missing:
            existing.update(_existing_partitions(client, [r.name for r in reports if not r.created]))
        for name, count in existing.items():
            if name not in missing:
                reports.append(TopicReport(name, count, False))
    reports.sort(key=lambda r: wanted.index(r.name))
    _check_copartitioning(settings, reports)
    for report in reports:
        line = f"topic {report.name}: {'created' if report.created else 'exists'}, {report.partitions} partitions"
        log.info(line)
        if verbose:
            print(line, file=sys.stdout, flush=True)
    return reports


@contextlib.contextmanager
def _admin_client(settings: Settings, timeout: float, admin: Any = None) -> Iterator[Any]:
    """``admin`` as given (its owner closes it), or a new client closed on exit."""
    if admin is not None:
        yield admin
        return
    client = _connect(settings, timeout)
    try:
        yield client
    finally:
        client.close()


def _connect(settings: Settings, timeout: float) -> Any:
    """An admin client, or :class:`BrokerError` saying how to get a broker."""
    kafka_types = _kafka_types()
    try:
        return make_admin(settings, request_timeout_ms=int(timeout * 1000), bootstrap_timeout_ms=int(timeout * 1000))
    except kafka_types.KafkaError as exc:
        raise BrokerError(connection_problem(settings, exc)) from exc


def _check_copartitioning(settings: Settings, reports: list[TopicReport]) -> None:
    together = copartitioned_topics(settings)
    if not together <= {r.name for r in reports}:
        return  # a producer-only caller (simulate, replay): nothing is read together here
    for report in reports:
        if report.name in together and report.partitions != settings.partitions:
            msg = (
                f"topic {report.name} exists with {report.partitions} partitions but the worker is configured "
                f"for {settings.partitions}; the input and ticks topics must have the same count. Fix: set "
                f"SLAWATCH_PARTITIONS={report.partitions} (or --partitions {report.partitions}), or recreate "
                "the topic"
            )
            raise BrokerError(msg)


def _kafka_types() -> Any:
    """kafka-python's admin types, imported lazily (the CLI starts faster without them)."""
    import types
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from kafka.admin import NewTopic
        from kafka.errors import KafkaError, TopicAlreadyExistsError

    return types.SimpleNamespace(
        NewTopic=NewTopic, KafkaError=KafkaError, TopicAlreadyExistsError=TopicAlreadyExistsError
    )


@functools.lru_cache(maxsize=65_536)  # a ticket's key comes back with each of its events
def default_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for ``key``: murmur2, as the Java
    client, kafka-python and aiokafka (and so ``slawatch replay`` and ``simulate``) do.

    librdkafka-based clients default to CRC32 (docs/events.md): one producer alone is
    consistent, but with a second that uses murmur2 a ticket's events split between
    partitions, and so between workers.
    """
    from kafka.partitioner.default import murmur2  # pure Python, ~2.5 us: hence the cache

    return int(murmur2(key) & 0x7FFFFFFF) % partitions
