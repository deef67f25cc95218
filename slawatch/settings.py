"""One settings object for every slawatch process.

Values come, lowest precedence first, from defaults, a settings file (YAML or TOML,
``SLAWATCH_CONFIG`` or ``--config``), ``SLAWATCH_*`` environment variables, then CLI
flags. They are validated once at start-up: a bad value names the source, the key and
the fix instead of surfacing later as a Kafka or Faust traceback.
"""

from __future__ import annotations

import json
import os
import ssl
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from slawatch.exceptions import ConfigError

__all__ = ["Settings", "load_settings", "write_settings_file"]

ENV_PREFIX = "SLAWATCH_"

#: A list setting: in the environment either comma separated (``repair,sales``, as
#: ``SLAWATCH_BROKER``) or a JSON array (``["repair","sales"]``).
_Names = Annotated[tuple[str, ...], NoDecode]
_Numbers = Annotated[tuple[int, ...], NoDecode]


def default_cache_dir() -> Path:
    """Where downloaded Kafka jars live: under the user's cache, never in the repo."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "slawatch"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "slawatch"


#: Settings whose command-line flag is not their name with dashes (cli.py's ``dest``).
FLAG_SPELLING: dict[str, str] = {
    "kafka_port": "--port",
    "kafka_controller_port": "--controller-port",
    "kafka_dir": "--dir",
    "policy_file": "--policy",
}


class Settings(BaseSettings):
    """Validated, frozen configuration (env prefix ``SLAWATCH_``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_default=True)

    # --- Kafka connection -------------------------------------------------------
    broker: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None

    # --- Topics ------------------------------------------------------------------
    topic_events: str = "tickets.events"
    topic_dlq: str = "tickets.events.dlq"
    topic_alerts: str = "sla.alerts"
    topic_ticks: str = "slawatch.ticks"
    partitions: int = Field(8, ge=1, le=1024)
    replication_factor: int = Field(1, ge=1, le=16)

    # --- Worker --------------------------------------------------------------------
    app_id: str = "slawatch"
    store: Literal["memory", "rocksdb"] = "memory"
    data_dir: Path = Field(default_factory=default_data_dir)
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=1, le=65535)
    policy_file: Path | None = None
    timer_interval_seconds: float = Field(0.2, gt=0, le=10)
    #: A partition fed events older than ``history_lag_seconds`` (history: a replay, a
    #: re-sent backlog) fires thresholds on their event time, as the backtest does, and
    #: on the wall clock again after ``history_idle_seconds`` without input (see
    #: slawatch.agents.horizon).
    history_lag_seconds: float = Field(60.0, gt=0)
    history_idle_seconds: float = Field(2.0, gt=0, le=3600)
    #: How long a worker that died without leaving the group (kill -9, lost host) keeps
    #: its partitions, and how long any rebalance meanwhile (a restart, a new worker)
    #: waits for it with every partition unowned (Kafka's session timeout; the broker
    #: allows 6..1800 s by default). Lower fails over sooner; too low evicts a worker
    #: that a long pause (a large recovery, a stalled host) kept from its heartbeats.
    session_timeout_seconds: float = Field(60.0, ge=6, le=1800)
    #: Scrapes sooner than this after the last reuse its ticket-state gauges (open
    #: tickets, by age, at risk, follow-ups): each pass walks every owned ticket.
    state_gauges_interval_seconds: float = Field(5.0, ge=0, le=300)
    retention_seconds: float = Field(30 * 86400, ge=0)
    #: Closed-out tickets kept however old, the most recent first (see slawatch.sla.engine).
    retain_closed_tickets: int = Field(50_000, ge=0)
    #: How often the worker looks for closed-out tickets past retention (the backtest
    #: judges each line; a short retention tried live wants a short sweep too).
    expire_sweep_seconds: float = Field(600.0, ge=1, le=86400)
    window_sizes_seconds: _Numbers = (60, 3600)
    window_expires_seconds: int = Field(86400, ge=60)
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # --- Metric label bounds (a value outside the list becomes "other") ---------------
    departments: _Names = (
        "repair",
        "installation",
        "customer_service",
        "quality",
        "logistics",
        "sales",
    )
    channels: _Names = ("phone", "email", "app", "web", "wechat", "visit", "other")
    product_lines: _Names = ("appliance", "hvac", "kitchen", "smart_home", "other")
    vendors: _Names = ("in_house", "vendor_a", "vendor_b", "vendor_c")

    # --- Local broker (slawatch kafka start) ----------------------------------------------
    kafka_version: str = "3.9.1"
    kafka_port: int = Field(9092, ge=1, le=65535)
    kafka_controller_port: int = Field(9093, ge=1, le=65535)
    kafka_dir: Path | None = None
    cache_dir: Path = Field(default_factory=default_cache_dir)

    @field_validator("window_sizes_seconds", "departments", "channels", "product_lines", "vendors", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                msg = f'not a JSON array: {value!r}; write a,b,c or a JSON array like ["a", "b"]'
                raise ValueError(msg) from None
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            msg = f"empty ({value!r}): list values as a,b,c, or unset it for the default"
            raise ValueError(msg)
        return parts

    @field_validator("ssl_cafile", mode="before")
    @classmethod
    def _empty_cafile_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("ssl_cafile")
    @classmethod
    def _cafile_is_a_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # Checked here, not at the first TLS handshake: a missing CA file otherwise shows
        # up as "unable to bootstrap", indistinguishable from a broker that is down. Only
        # when TLS is on: a stale variable must not stop a backtest. Made absolute, as
        # the worker may change directory before its clients read it.
        if value is None:
            return None
        path = value.expanduser().absolute()
        if info.data.get("security_protocol") in ("SSL", "SASL_SSL") and not path.is_file():
            msg = (
                f"{str(value)!r} is not a readable file: give the PEM file of the CA that signed "
                "the brokers' certificates, or unset it for the system CAs"
            )
            raise ValueError(msg)
        return path

    @field_validator("broker")
    @classmethod
    def _broker_has_port(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                msg = f"broker {server!r} must be host:port (e.g. 127.0.0.1:9092); set SLAWATCH_BROKER or --broker"
                raise ValueError(msg)
        return value

    @property
    def bootstrap_servers(self) -> list[str]:
        return [s.strip() for s in self.broker.split(",") if s.strip()]

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS trust of the worker's Kafka clients (Faust's and the range reader's);
        None unless ``security_protocol`` uses TLS."""
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        return ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)

    def security_problems(self) -> list[str]:
        """What is missing or contradictory in the SASL/TLS settings, each with its fix.

        Checked before any client is built (every command, not only the worker): a SASL
        client without credentials does not fail, it waits for a login that never comes.
        """
        problems = []
        if self.security_protocol.startswith("SASL"):
            # An empty password is a missing one: it is what a failed `$(...)` in an export gives.
            password = self.sasl_password.get_secret_value() if self.sasl_password else ""
            empty = [
                name
                for name, value in (
                    ("SLAWATCH_SASL_USERNAME", self.sasl_username),
                    ("SLAWATCH_SASL_PASSWORD", password),
                )
                if not value
            ]
            if empty:
                problems.append(
                    f"security_protocol is {self.security_protocol} but {' and '.join(empty)} "
                    f"{'is' if len(empty) == 1 else 'are'} unset or empty: set SLAWATCH_SASL_USERNAME and "
                    "SLAWATCH_SASL_PASSWORD (and SLAWATCH_SASL_MECHANISM unless it is PLAIN)"
                )
        elif self.sasl_mechanism:
            problems.append(
                "sasl_mechanism is set but security_protocol is not SASL_PLAINTEXT or SASL_SSL: "
                "set SLAWATCH_SECURITY_PROTOCOL"
            )
        return problems

    def kafka_client_options(self) -> dict[str, Any]:
        """Security options in the spelling aiokafka and kafka-python share.

        Raises :class:`ConfigError` when :meth:`security_problems` finds any.
        """
        problems = self.security_problems()
        if problems:
            raise ConfigError("invalid security settings:\n  " + "\n  ".join(problems))
        opts: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            opts["sasl_mechanism"] = self.sasl_mechanism or "PLAIN"
            opts["sasl_plain_username"] = self.sasl_username
            opts["sasl_plain_password"] = self.sasl_password.get_secret_value() if self.sasl_password else None
        if self.ssl_cafile:
            opts["ssl_cafile"] = str(self.ssl_cafile)
        return opts


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"{path}: cannot read settings file ({exc.strerror}); fix the path in --config or SLAWATCH_CONFIG"
        raise ConfigError(msg, file=str(path)) from exc
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        msg = f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {exc}"
        raise ConfigError(msg, file=str(path)) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        msg = f"{path}: top level must be a mapping of setting names to values"
        raise ConfigError(msg, file=str(path))
    return data


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings from file, environment and explicit overrides (CLI flags).

    Raises :class:`ConfigError` naming the source, key and fix.
    """
    path = Path(config_file) if config_file else None
    if path is None and os.environ.get(ENV_PREFIX + "CONFIG"):
        path = Path(os.environ[ENV_PREFIX + "CONFIG"])
    file_values = _read_file(path) if path else {}
    env_keys = {k[len(ENV_PREFIX) :].lower() for k in os.environ if k.startswith(ENV_PREFIX)}
    # Environment beats the file: drop file keys that the environment sets.
    values = {k: v for k, v in file_values.items() if k not in env_keys}
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**values)
    except SettingsError as exc:  # an environment value pydantic-settings could not parse
        msg = f"invalid settings: {exc}; see the SLAWATCH_* variables in docs/operations.md"
        raise ConfigError(msg, file=str(path) if path else None) from None
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "?"
            name = key.split(".")[0]  # window_sizes_seconds.1: the setting, not the item
            if overrides.get(name) is not None:  # argparse passes every flag, None when not given
                source = f"command-line flag {FLAG_SPELLING.get(name, '--' + name.replace('_', '-'))}"
            elif name in env_keys:
                source = f"environment variable {ENV_PREFIX}{name.upper()}"
            elif path is not None and name in file_values:
                source = f"{path}"
            else:
                source = "settings"
            fix = "remove it (unknown setting)" if err["type"] == "extra_forbidden" else err["msg"]
            problems.append(f"{source}: {key}: {fix}")
        msg = "invalid settings:\n  " + "\n  ".join(problems)
        raise ConfigError(msg, file=str(path) if path else None) from None


def write_settings_file(settings: Settings, path: Path) -> dict[str, str]:
    """Write ``settings`` to ``path`` for a child process (``--config``); return its environment.

    The file holds every effective value, so the child runs with exactly what this
    process resolved (the address of a broker it started, an adopted partition count).
    ``SLAWATCH_*`` variables are left out of the environment, as they would override
    the file; the SASL password travels in the environment, never in a file.
    """
    values = settings.model_dump(mode="json", exclude={"sasl_password"})
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    if settings.sasl_password is not None:
        env[ENV_PREFIX + "SASL_PASSWORD"] = settings.sasl_password.get_secret_value()
    return env
