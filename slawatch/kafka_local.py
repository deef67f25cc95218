"""A local single-node Kafka (KRaft: broker and controller in one JVM) from Maven Central jars.

Why this exists: the integration tests, the quickstart and developers need a *real*
broker, and not every machine has Docker. Java and Maven are enough: Maven downloads the
jars of one Kafka release into the user's cache once (``<cache dir>/kafka-<version>``,
about 45 MB, never inside the repository), and the JVM runs them detached, so the broker
outlives ``slawatch kafka start`` and is stopped by ``slawatch kafka stop``.

Files in the data directory (``settings.kafka_dir``, default ``<data_dir>/kafka``)::

    server.properties     rendered on every start (ports, speed-ups); edits are overwritten
    log4j2.properties     copy of slawatch/data/kafka-log4j.properties
    storage/              Kafka's log.dirs: KRaft metadata and topic data, formatted once
    tls/                  with --secure only: key store, CA file, secrets (slawatch.kafka_secure)
    kafka.log             the broker's stdout and stderr (log4j2 writes to the console)
    kafka.pid             pid of the running broker
    broker.json           what was started (version, bootstrap, jar dir), read by status
    start.lock            held while starting, so two concurrent starts give one broker

See docs/kafka-local.md for the choice of Kafka version and the operating notes.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, TypedDict

from slawatch.exceptions import BrokerError
from slawatch.kafka_secure import SecureListeners, write_private
from slawatch.settings import Settings

__all__ = ["BrokerStatus", "LocalKafka", "main", "probe", "render_pom"]

log = logging.getLogger(__name__)

#: JVM flags of the broker. Kafka's own scripts default to a 1 GB G1 heap; a test broker
#: needs far less, and SerialGC plus C1-only compilation start noticeably faster.
JVM_OPTIONS: tuple[str, ...] = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-UsePerfData",
    "-Djava.awt.headless=true",
)
#: The one-shot storage formatter needs even less.
FORMAT_JVM_OPTIONS: tuple[str, ...] = ("-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData")

MAVEN_TIMEOUT = 900.0
FORMAT_TIMEOUT = 120.0
LOG_ROTATE_BYTES = 20 * 1024 * 1024

_INSTALL_HINT = (
    "install them with `sudo apt-get install openjdk-17-jre-headless maven` (Debian/Ubuntu; "
    "Java 17 or newer), or run the whole stack without them with `docker compose up`"
)


class BrokerStatus(TypedDict):
    """What ``slawatch kafka status`` reports (also returned by :meth:`LocalKafka.status`)."""

    running: bool
    serving: bool
    pid: int | None
    version: str
    bootstrap: str
    controller: str
    data_dir: str
    jar_dir: str
    jars_cached: bool
    log_file: str
    secured: str | None


def parse_version(version: str) -> tuple[int, int, int]:
    """``"4.3.1"`` -> ``(4, 3, 1)``; anything else is a :class:`BrokerError` naming the fix."""
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version.strip())
    if match is None:
        msg = (
            f"kafka_version {version!r} is not a Kafka release number; expected three numbers like "
            "4.3.1 (set SLAWATCH_KAFKA_VERSION or --kafka-version)"
        )
        raise BrokerError(msg)
    major, minor, patch = (int(g) for g in match.groups())
    if (major, minor) < (3, 3):
        msg = (
            f"kafka_version {version} is too old for a KRaft broker without ZooKeeper; "
            "use 3.9.x or 4.x (set SLAWATCH_KAFKA_VERSION or --kafka-version)"
        )
        raise BrokerError(msg)
    return major, minor, patch


def required_java(version: str) -> int:
    """Oldest Java feature release that runs a broker of this Kafka version."""
    return 17 if parse_version(version)[0] >= 4 else 11


def render_pom(version: str) -> str:
    """The Maven project that names the broker's jars (slawatch/data/kafka-pom.xml)."""
    parse_version(version)
    template = resources.files("slawatch").joinpath("data", "kafka-pom.xml").read_text(encoding="utf-8")
    return template.replace("@KAFKA_VERSION@", version)


def _log4j_config() -> str:
    return resources.files("slawatch").joinpath("data", "kafka-log4j.properties").read_text(encoding="utf-8")


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (as kafka-storage).

    Like Kafka's own ``Uuid.randomUuid``, an id starting with ``-`` (1 in 64) is drawn
    again: ``kafka-storage format -t -xyz...`` would read it as an option and fail.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def port_is_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (the Kafka broker, the worker's web server).

    False only when another process listens there; any other reason a server could not
    listen (an address not of this host, a name that does not resolve, a privileged
    port) raises the ``OSError``, for the caller to name the host setting.
    """
    # SO_REUSEADDR as Kafka's acceptor and aiohttp use it: connections of a server stopped
    # a moment ago linger in TIME_WAIT and must not count as "in use"; a listening socket does.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def probe(bootstrap: str, *, timeout: float = 5.0, **client_options: Any) -> dict[str, Any] | None:
    """Cluster description when the broker at ``bootstrap`` answers a metadata request, else None.

    An open port is not enough: the readiness check of ``start`` and the test fixtures
    want a broker that really serves requests, so this asks for the cluster metadata with
    kafka-python's admin client. ``client_options`` are security options
    (``Settings.kafka_client_options()``).
    """
    from kafka import KafkaAdminClient  # heavy; only when a broker is really asked

    ms = max(int(timeout * 1000), 1000)
    admin = None
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=[s.strip() for s in bootstrap.split(",") if s.strip()],
            client_id="slawatch-kafka-probe",
            request_timeout_ms=ms,
            bootstrap_timeout_ms=ms,
            **client_options,
        )
        cluster: dict[str, Any] = admin.describe_cluster()
    except Exception as exc:  # any failure means "not serving yet"; the caller retries or reports
        log.debug("Kafka at %s does not serve requests yet: %s", bootstrap, exc)
        return None
    finally:
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()
    return cluster if cluster.get("brokers") else None


def _java_binary() -> str | None:
    """``$JAVA_HOME/bin/java`` when set (as Kafka's own scripts do), else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("java")


def _java_feature_version(java: str) -> int | None:
    """17 for ``openjdk version "17.0.15"``, 8 for ``"1.8.0_392"``; None when unreadable."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def _pid_alive(pid: int) -> bool:
    # A broker started by this very process (the pytest fixture) stays a zombie after it
    # exits until it is reaped, and os.kill(pid, 0) succeeds on zombies: reap first.
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    with contextlib.suppress(OSError, IndexError):
        state = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        if state.rsplit(") ", 1)[1].startswith("Z"):
            return False
    return True


class LocalKafka:
    """One local KRaft broker+controller, identified by its data directory.

    Every method is safe to call in any state: ``start`` on a running broker does
    nothing, ``stop`` on a stopped one does nothing, and a pid file whose process is gone
    (or is no longer our broker) is treated as stale and removed.
    """

    def __init__(
        self,
        version: str,
        port: int,
        controller_port: int,
        data_dir: Path,
        cache_dir: Path,
        host: str = "127.0.0.1",
        secure: SecureListeners | None = None,
    ) -> None:
        parse_version(version)
        if port == controller_port:
            msg = (
                f"the Kafka broker port and controller port are both {port}; they must differ "
                "(set --port/SLAWATCH_KAFKA_PORT and --controller-port/SLAWATCH_KAFKA_CONTROLLER_PORT)"
            )
            raise BrokerError(msg)
        self.version = version
        self.port = port
        self.controller_port = controller_port
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.cache_dir = Path(cache_dir).expanduser().absolute()
        self.host = host
        #: TLS and SASL listeners beside the plaintext one (``slawatch kafka start --secure``).
        self.secure = secure

    @classmethod
    def from_settings(cls, settings: Settings, *, secure: bool = False) -> LocalKafka:
        """The broker ``slawatch kafka`` manages for these settings."""
        data_dir = Path(settings.kafka_dir or settings.data_dir / "kafka").expanduser().absolute()
        listeners = SecureListeners.after(data_dir, settings.kafka_port, settings.kafka_controller_port)
        return cls(
            version=settings.kafka_version,
            port=settings.kafka_port,
            controller_port=settings.kafka_controller_port,
            data_dir=data_dir,
            cache_dir=settings.cache_dir,
            secure=listeners if secure else None,
        )

    def __repr__(self) -> str:
        return f"LocalKafka(version={self.version!r}, bootstrap={self.bootstrap!r}, data_dir={str(self.data_dir)!r})"

    # ------------------------------------------------------------------ paths
    @property
    def bootstrap(self) -> str:
        """``host:port`` of the client listener (what ``SLAWATCH_BROKER`` should say)."""
        return f"{self.host}:{self.port}"

    @property
    def home(self) -> Path:
        """``<cache dir>/kafka-<version>``: the rendered pom and the jar folder."""
        return self.cache_dir / f"kafka-{self.version}"

    @property
    def jar_dir(self) -> Path:
        return self.home / "libs"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "storage"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "broker.json"

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_config_file(self) -> Path:
        return self.data_dir / "log4j2.properties"

    # --------------------------------------------------------------- rendering
    def render_server_properties(self) -> str:
        """The broker's configuration: one KRaft node on ``host``, tuned for tests.

        Static voters (``controller.quorum.voters``) work on 3.9 and 4.x and need no
        ``--standalone`` at format time. The speed-ups: internal topics of one partition
        instead of 50 (the first consumer group or transaction is otherwise slow), no
        3 s initial rebalance delay, a 16 MiB instead of 128 MiB cleaner buffer on a
        512 MiB heap. Topics are created explicitly (``slawatch topics``, Faust for its
        changelogs), so auto-creation is off: a typo in a topic name fails instead of
        silently creating a one-partition topic that breaks co-partitioning.
        """
        major = parse_version(self.version)[0]
        secure = self.secure
        client = [f"PLAINTEXT://{self.host}:{self.port}", *(secure.listeners(self.host) if secure else [])]
        protocols = ["CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT", *(secure.protocol_map() if secure else [])]
        lines = [
            "# Written by `slawatch kafka start` on every start; edits are overwritten.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@{self.host}:{self.controller_port}",
            f"listeners={','.join(client)},CONTROLLER://{self.host}:{self.controller_port}",
            f"advertised.listeners={','.join(client)}",
            "inter.broker.listener.name=PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map={','.join(protocols)}",
            f"log.dirs={self.storage_dir}",
            "auto.create.topics.enable=false",
            "num.partitions=1",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=1",
            "group.initial.rebalance.delay.ms=0",
            "group.min.session.timeout.ms=1000",
            "num.network.threads=2",
            "num.io.threads=4",
            "num.recovery.threads.per.data.dir=1",
            "log.cleaner.dedupe.buffer.size=16777216",
        ]
        if major >= 4:
            # Share groups (KIP-932) exist from 4.0; 3.9 would log these as unknown.
            lines += [
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
            ]
        if secure:
            lines += secure.server_properties()
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------- jars
    def jars_ready(self) -> bool:
        """True when the jar folder of this version is complete (it appears atomically)."""
        return (self.jar_dir / f"kafka_2.13-{self.version}.jar").is_file()

    def ensure_jars(self) -> Path:
        """Download the broker's jars with Maven once; return the jar folder.

        Maven copies into a private temporary folder that is renamed into place only when
        complete, so an interrupted download is simply redone and two processes
        downloading at once both end with the same, complete folder.
        """
        if self.jars_ready():
            return self.jar_dir
        self._require_tools(java=False, mvn=True)
        mvn = shutil.which("mvn")
        assert mvn is not None  # _require_tools checked it
        self.home.mkdir(parents=True, exist_ok=True)
        pom = self.home / "pom.xml"
        pom.write_text(render_pom(self.version), encoding="utf-8")
        tmp = self.home / f"libs.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn,
            "-B",
            "--no-transfer-progress",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={tmp}",
        ]
        log.info("downloading Kafka %s jars: %s", self.version, " ".join(cmd))
        try:
            done = subprocess.run(
                cmd, cwd=self.home, capture_output=True, text=True, timeout=MAVEN_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            msg = (
                f"Maven did not finish downloading the Kafka {self.version} jars within {MAVEN_TIMEOUT:.0f} s "
                f"(command: {' '.join(cmd)}); check the network connection to Maven Central "
                "(proxies go in ~/.m2/settings.xml) and run the command again"
            )
            raise BrokerError(msg) from exc
        if done.returncode != 0 or not (tmp / f"kafka_2.13-{self.version}.jar").is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            output = "\n".join((done.stdout + done.stderr).splitlines()[-30:])
            msg = (
                f"Maven could not download the jars of Kafka {self.version} (exit code {done.returncode}; "
                f"project {pom}).\nLast lines of its output:\n{output}\n"
                f"Fix: check that org.apache.kafka:kafka_2.13:{self.version} exists on Maven Central and "
                "that Maven Central is reachable (proxies go in ~/.m2/settings.xml), "
                "or pick another version with --kafka-version / SLAWATCH_KAFKA_VERSION"
            )
            raise BrokerError(msg)
        try:
            tmp.rename(self.jar_dir)
        except OSError:
            # Another process finished first; its folder is complete, ours is redundant.
            shutil.rmtree(tmp, ignore_errors=True)
            if not self.jars_ready():
                raise
        return self.jar_dir

    # ------------------------------------------------------------------ state
    def _read_pid(self) -> int | None:
        try:
            text = self.pid_file.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() else None

    def _is_our_broker(self, pid: int) -> bool:
        """The pid is alive and (where /proc tells) runs kafka.Kafka with our server.properties.

        The second check protects against pid reuse: after a reboot the number in a stale
        pid file may belong to any process, which ``stop`` must never signal.
        """
        if not _pid_alive(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return True  # no /proc (macOS) or not readable: trust the pid file
        return b"kafka.Kafka" in cmdline and str(self.properties_file).encode() in cmdline

    def secured_listeners(self) -> str | None:
        """The --secure listeners of this data dir's rendered configuration
        (``"SASL_SSL://127.0.0.1:9094, ..."``), None when it has none."""
        try:
            lines = self.properties_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        listeners = next((line.split("=", 1)[1] for line in lines if line.startswith("listeners=")), "")
        found = [item for item in listeners.split(",") if item.split("://")[0] in ("SASL_SSL", "SSL", "SASL_PLAINTEXT")]
        return ", ".join(found) or None

    def running_pid(self) -> int | None:
        """Pid of the running broker of this data dir; removes a stale pid file."""
        pid = self._read_pid()
        if pid is not None and self._is_our_broker(pid):
            return pid
        if self.pid_file.exists() or self.state_file.exists():
            log.info("removing stale pid file %s (pid %s is not a running broker)", self.pid_file, pid)
            self._clear_runtime_files()
        return None

    def is_running(self) -> bool:
        return self.running_pid() is not None

    def _clear_runtime_files(self) -> None:
        for path in (self.pid_file, self.state_file):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def _read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def status(self) -> BrokerStatus:
        """Running or not, and where everything is. A running broker reports what it was
        started with (its data dir may have been started with other ports or version)."""
        pid = self.running_pid()
        state = self._read_state() if pid is not None else {}
        bootstrap = str(state.get("bootstrap", self.bootstrap))
        host, _, port = bootstrap.rpartition(":")
        return BrokerStatus(
            running=pid is not None,
            serving=pid is not None and port.isdigit() and port_is_open(host, int(port)),
            pid=pid,
            version=str(state.get("version", self.version)),
            bootstrap=bootstrap,
            controller=str(state.get("controller", f"{self.host}:{self.controller_port}")),
            data_dir=str(self.data_dir),
            jar_dir=str(state.get("jar_dir", self.jar_dir)),
            jars_cached=self.jars_ready(),
            log_file=str(self.log_file),
            secured=self.secured_listeners() if pid is not None else None,
        )

    # ------------------------------------------------------------------ start
    def _require_tools(self, *, java: bool, mvn: bool) -> None:
        missing = []
        if java and _java_binary() is None:
            missing.append("`java` (runs the broker; JAVA_HOME is not set either)")
        if mvn and shutil.which("mvn") is None:
            missing.append(f"`mvn` (Maven: downloads the Kafka {self.version} jars once)")
        if missing:
            msg = (
                f"cannot start the local Kafka {self.version} broker: {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not on PATH; {_INSTALL_HINT}"
            )
            raise BrokerError(msg)

    def _check_java_version(self, java: str) -> None:
        needed = required_java(self.version)
        found = _java_feature_version(java)
        if found is not None and found < needed:
            msg = (
                f"Kafka {self.version} needs Java {needed} or newer, but {java} is Java {found}; "
                f"install openjdk-17-jre-headless (apt-get) and set JAVA_HOME to it, "
                "or pick an older Kafka with --kafka-version 3.9.2"
            )
            raise BrokerError(msg)

    def _check_ports_free(self) -> None:
        ports = [
            (self.port, "--port / SLAWATCH_KAFKA_PORT"),
            (self.controller_port, "--controller-port / SLAWATCH_KAFKA_CONTROLLER_PORT"),
        ]
        if self.secure:
            # The secured listeners sit on the ports after the higher of the two.
            ports += [(port, "--port and --controller-port") for _, port in self.secure.ports]
        for port, flag in ports:
            try:
                free = port_is_free(self.host, port)
            except OSError as exc:  # e.g. a port below 1024 without root
                reason = exc.strerror or str(exc)
                msg = f"cannot start the local Kafka broker on {self.host}:{port}: {reason}; choose another with {flag}"
                raise BrokerError(msg) from None
            if not free:
                msg = (
                    f"cannot start the local Kafka broker (data dir {self.data_dir}): port {port} on {self.host} "
                    f"is already in use by another process; choose a free port with {flag}, or stop what "
                    f"listens there (another broker? `slawatch kafka status --dir DIR`, `docker compose ps`)"
                )
                raise BrokerError(msg)

    def _format_storage(self, java: str) -> None:
        """Format the KRaft storage once; an existing ``meta.properties`` keeps its cluster id."""
        if (self.storage_dir / "meta.properties").is_file():
            return
        cmd = [
            java,
            *FORMAT_JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.log_config_file}",
            "-cp",
            f"{self.jar_dir}/*",
            "kafka.tools.StorageTool",
            "format",
            "-t",
            new_cluster_id(),
            "-c",
            str(self.properties_file),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=FORMAT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as exc:
            msg = f"formatting the Kafka storage in {self.storage_dir} took over {FORMAT_TIMEOUT:.0f} s; try again"
            raise BrokerError(msg) from exc
        with self.log_file.open("a", encoding="utf-8") as out:
            out.write(done.stdout + done.stderr)
        if done.returncode != 0:
            output = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            msg = (
                f"formatting the Kafka storage in {self.storage_dir} failed (exit code {done.returncode}):\n"
                f"{output}\nFix: remove {self.storage_dir} if it holds a half-formatted or foreign "
                "directory, then start again"
            )
            raise BrokerError(msg)

    def _rotate_log(self) -> None:
        with contextlib.suppress(OSError):
            if self.log_file.stat().st_size > LOG_ROTATE_BYTES:
                self.log_file.replace(self.log_file.with_suffix(".log.1"))

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "start.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def preflight(self) -> str:
        """Check what a start needs before anything is downloaded or written; return ``java``.

        Raises :class:`BrokerError` naming a missing ``java``/``mvn``, a too old Java, or
        a port that another process holds.
        """
        self._require_tools(java=True, mvn=not self.jars_ready())
        java = _java_binary()
        assert java is not None  # _require_tools checked it
        self._check_java_version(java)
        self._check_ports_free()
        return java

    def start(self, timeout: float = 120) -> None:
        """Start the broker detached and return once it serves requests.

        Returns at once when this data dir's broker already runs. ``timeout`` bounds the
        wait for readiness (not the one-time jar download). Readiness means the client
        port accepts connections *and* a metadata request succeeds: the port opens only
        after the broker is unfenced, and the request proves the protocol layer is up.
        """
        with self._start_lock():
            if self.is_running():
                log.info("Kafka broker of %s already running", self.data_dir)
                return
            java = self.preflight()
            self.ensure_jars()
            if self.secure:
                self.secure.ensure_files(java)
            # server.properties holds the SASL and key store passwords under --secure.
            write_private(self.properties_file, self.render_server_properties())
            self.log_config_file.write_text(_log4j_config(), encoding="utf-8")
            self._rotate_log()
            with self.log_file.open("a", encoding="utf-8") as out:
                stamp = time.strftime("%Y-%m-%d %H:%M:%S%z")
                out.write(f"\n==== slawatch kafka start {self.version} at {self.bootstrap}, {stamp} ====\n")
            self._format_storage(java)
            proc = self._launch(java)
            try:
                self._wait_ready(proc, timeout)
                if self.secure:
                    self.secure.ensure_scram(self.storage_dir, self.bootstrap)
            except BaseException:
                self._terminate(proc.pid, grace=5)
                self._clear_runtime_files()
                raise

    def _launch(self, java: str) -> subprocess.Popen[bytes]:
        cmd = [
            java,
            *JVM_OPTIONS,
            f"-Dlog4j2.configurationFile={self.log_config_file}",
            "-cp",
            f"{self.jar_dir}/*",
            "kafka.Kafka",
            str(self.properties_file),
        ]
        with self.log_file.open("ab") as out:
            # start_new_session: the broker leaves our process group, so Ctrl-C in the
            # terminal that ran `slawatch kafka start` (or pytest) does not kill it.
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
                close_fds=True,
            )
        self.pid_file.write_text(f"{proc.pid}\n", encoding="ascii")
        state = {
            "pid": proc.pid,
            "version": self.version,
            "bootstrap": self.bootstrap,
            "controller": f"{self.host}:{self.controller_port}",
            "jar_dir": str(self.jar_dir),
            "started_at": time.time(),
        }
        self.state_file.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        return proc

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            code = proc.poll()
            if code is not None:
                msg = (
                    f"the Kafka {self.version} broker exited with code {code} while starting "
                    f"(data dir {self.data_dir}). Last lines of {self.log_file}:\n{_tail(self.log_file)}\n"
                    f"Fix what the log names; if the storage is damaged or from a newer Kafka, remove "
                    f"{self.storage_dir} and start again"
                )
                raise BrokerError(msg)
            if port_is_open(self.host, self.port) and probe(self.bootstrap, timeout=3.0) is not None:
                return
            if time.monotonic() >= deadline:
                msg = (
                    f"the Kafka {self.version} broker (pid {proc.pid}) did not serve requests at "
                    f"{self.bootstrap} within {timeout:.0f} s; it was stopped. Last lines of "
                    f"{self.log_file}:\n{_tail(self.log_file)}\nFix: a slow machine needs a longer "
                    "timeout; otherwise fix what the log names"
                )
                raise BrokerError(msg)
            time.sleep(0.2)

    # ------------------------------------------------------------------- stop
    def _terminate(self, pid: int, grace: float) -> None:
        """SIGTERM (Kafka's shutdown hook closes logs cleanly), SIGKILL after ``grace`` s."""
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        except PermissionError as exc:
            msg = (
                f"not allowed to stop the Kafka broker pid {pid} (data dir {self.data_dir}); it belongs to another user"
            )
            raise BrokerError(msg) from exc
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _pid_alive(pid):
                return
            time.sleep(0.1)
        log.warning("Kafka broker pid %d ignored SIGTERM for %.0f s; sending SIGKILL", pid, grace)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop(self, grace: float = 20) -> None:
        """Stop the broker of this data dir if it runs; a stale pid file is just removed."""
        pid = self.running_pid()
        if pid is not None:
            self._terminate(pid, grace)
        self._clear_runtime_files()


# --------------------------------------------------------------------- CLI
def _print_status(status: BrokerStatus) -> None:
    width = max(len(k) for k in status)
    for key, value in status.items():
        print(f"{key.ljust(width)}  {'-' if value is None else value}")


def _print_secure(kafka: LocalKafka, secure: SecureListeners) -> None:
    """The secured listeners and the variables of a SASL_SSL client, password by reference."""
    for name, port in secure.ports:
        print(f"  {name + ':':16s}{kafka.host}:{port}")
    print(f"  user {secure.username}; password and CA file in {secure.tls_dir}\n  a SASL_SSL client:")
    for key, value in secure.client_environment(kafka.host).items():
        if key == "SLAWATCH_SASL_PASSWORD":  # never printed: terminals and CI logs keep it
            value = (
                '"$(python3 -c \'import json,sys; print(json.load(open(sys.argv[1]))["password"])\' '
                f'{secure.secrets_file})"'
            )
        print(f"    export {key}={value}")


def main(action: str, settings: Settings, *, secure: bool = False) -> int:
    """``slawatch kafka start|stop|status``; exit code 0, or 3 for status of a stopped broker."""
    kafka = LocalKafka.from_settings(settings, secure=secure and action == "start")
    if action == "start":
        status = kafka.status()
        if status["running"]:
            print(
                f"Kafka {status['version']} already running at {status['bootstrap']} "
                f"(pid {status['pid']}, data dir {status['data_dir']})"
            )
            if kafka.secure and kafka.secured_listeners() is None:
                print("  note: it runs without the --secure listeners; stop it and start again with --secure")
            elif kafka.secure:
                _print_secure(kafka, kafka.secure)
            return 0
        kafka.preflight()
        if not kafka.jars_ready():
            print(
                f"downloading the Kafka {kafka.version} jars from Maven Central into {kafka.jar_dir} "
                "(once, about 45 MB) ...",
                file=sys.stderr,
                flush=True,
            )
        started = time.monotonic()
        kafka.start()
        status = kafka.status()
        print(
            f"Kafka {kafka.version} running at {kafka.bootstrap} "
            f"(pid {status['pid']}, ready in {time.monotonic() - started:.1f} s)\n"
            f"  data dir: {kafka.data_dir}\n  log:      {kafka.log_file}\n"
            f"  stop it:  slawatch kafka stop" + (f" --dir {kafka.data_dir}" if settings.kafka_dir else "")
        )
        if kafka.secure:
            _print_secure(kafka, kafka.secure)
        elif kafka.bootstrap not in settings.bootstrap_servers:
            print(f"  clients:  export SLAWATCH_BROKER={kafka.bootstrap}")
        return 0
    if action == "stop":
        pid = kafka.running_pid()
        if pid is None:
            print(f"Kafka not running (data dir {kafka.data_dir})")
            return 0
        kafka.stop()
        print(f"Kafka stopped (pid {pid}, data dir {kafka.data_dir})")
        return 0
    if action == "status":
        status = kafka.status()
        _print_status(status)
        return 0 if status["running"] else 3
    msg = f"unknown action {action!r} for `slawatch kafka`; expected start, stop or status"
    raise BrokerError(msg)
