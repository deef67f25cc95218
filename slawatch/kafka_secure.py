"""Secured listeners for the local broker: TLS, and SASL over TLS or plain TCP.

Why this exists: the security settings (``SLAWATCH_SECURITY_PROTOCOL``, SASL and the CA
file) are only proven by connecting to a broker that demands them. ``slawatch kafka
start --secure`` (and the integration tests) add, beside the plaintext listener that
the broker itself and ``slawatch kafka status`` use, three listeners on the next ports:

====================  ==========================================================
``SASL_SSL``          TLS, then SASL: ``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512``
``SSL``               TLS only
``SASL_PLAINTEXT``    SASL without TLS (as some internal clusters run)
====================  ==========================================================

One user (``slawatch``) with a generated password. The broker's key pair is generated
once with the JDK's ``keytool`` (self-signed, valid for ``127.0.0.1`` and ``localhost``)
and its certificate is the CA file clients trust. Files, in ``<data dir>/tls``::

    broker.p12     the broker's key store (PKCS12)
    ca.pem         the certificate clients trust (SLAWATCH_SSL_CAFILE)
    secrets.json   the key store password and the SASL user's password (mode 0600)

PLAIN logins are checked against ``server.properties`` (written 0600). SCRAM credentials
live in the KRaft metadata: once the broker serves, they are set through its plaintext
listener (the AlterUserScramCredentials request; the password never on a command line)
whenever ``storage/slawatch-scram`` does not hold the digest of the current user and
password: a new storage, new secrets, or a storage first started without ``--secure``
all get them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from slawatch.exceptions import BrokerError

__all__ = ["SCRAM_MECHANISMS", "SecureListeners", "write_private"]

SCRAM_MECHANISMS: tuple[str, ...] = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SASL_MECHANISMS: tuple[str, ...] = ("PLAIN", *SCRAM_MECHANISMS)
KEYTOOL_TIMEOUT = 60.0
#: What generated secrets look like (token_urlsafe); they go into files unescaped.
_SAFE_SECRET = re.compile(r"[A-Za-z0-9_-]{8,}")


@dataclass(frozen=True)
class SecureListeners:
    """The ports and files of the secured listeners of one local broker."""

    tls_dir: Path
    sasl_ssl_port: int
    ssl_port: int
    sasl_plaintext_port: int
    username: str = "slawatch"

    @classmethod
    def after(cls, data_dir: Path, port: int, controller_port: int) -> SecureListeners:
        """Listeners on the three ports after the higher of the broker's two."""
        first = max(port, controller_port) + 1
        if first + 2 > 65535:
            msg = (
                f"--secure puts its listeners on the three ports after {first - 1}, past 65535; "
                "choose a lower --port/--controller-port"
            )
            raise BrokerError(msg)
        return cls(Path(data_dir) / "tls", first, first + 1, first + 2)

    # ----------------------------------------------------------------- files
    @property
    def keystore(self) -> Path:
        return self.tls_dir / "broker.p12"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def secrets_file(self) -> Path:
        return self.tls_dir / "secrets.json"

    @property
    def ports(self) -> tuple[tuple[str, int], ...]:
        return (
            ("SASL_SSL", self.sasl_ssl_port),
            ("SSL", self.ssl_port),
            ("SASL_PLAINTEXT", self.sasl_plaintext_port),
        )

    def _secrets(self) -> dict[str, str]:
        try:
            data = json.loads(self.secrets_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            msg = (
                f"{self.secrets_file}: cannot read the local broker's secrets ({exc}); "
                f"remove {self.tls_dir} to regenerate them"
            )
            raise BrokerError(msg) from exc
        try:
            found = {"keystore_password": data["keystore_password"], "password": data["password"]}
        except (KeyError, TypeError):
            found = {}
        if not all(isinstance(v, str) and _SAFE_SECRET.fullmatch(v) for v in found.values()) or not found:
            # The values go into a JAAS string and a properties file unescaped.
            msg = (
                f'{self.secrets_file}: expected {{"keystore_password": ..., "password": ...}} with 8 or more '
                f"letters, digits, '-' or '_' each; remove {self.tls_dir} to regenerate them"
            )
            raise BrokerError(msg)
        return found

    @property
    def password(self) -> str:
        """The SASL password of :attr:`username` (generated with the key store)."""
        return self._secrets()["password"]

    def ensure_files(self, java: str) -> None:
        """Generate the key store, CA file and secrets once (kept across restarts)."""
        if self.keystore.is_file() and self.ca_file.is_file() and self.secrets_file.is_file():
            return
        keytool = _keytool(java)
        self.tls_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.keystore, self.ca_file, self.secrets_file):
            stale.unlink(missing_ok=True)
        store_pass = secrets.token_urlsafe(18)
        fd = os.open(self.secrets_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"keystore_password": store_pass, "password": secrets.token_urlsafe(18)}, out)
        with _private_file(self.tls_dir, store_pass) as pass_file:
            # keytool reads the password from a file: never on a command line (ps shows those).
            common = [
                "-alias", "broker", "-keystore", str(self.keystore), "-storetype", "PKCS12",
                "-storepass:file", str(pass_file),
            ]  # fmt: skip
            _run(
                [
                    keytool, "-genkeypair", *common, "-keypass:file", str(pass_file),
                    "-keyalg", "EC", "-groupname", "secp256r1", "-validity", "3650",
                    "-dname", "CN=slawatch local kafka",
                    "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-ext", "BC=ca:true",
                ]
            )  # fmt: skip
            _run([keytool, "-exportcert", "-rfc", *common, "-file", str(self.ca_file)])
        self.keystore.chmod(0o600)  # the broker's private key (encrypted, but no one else's business)

    def ensure_scram(self, storage_dir: Path, bootstrap: str) -> None:
        """Set the user's SCRAM credentials (through the plaintext listener at
        ``bootstrap``) unless the storage already holds these: ``storage/slawatch-scram``
        keeps the digest of the user and password they were set with."""
        marker = storage_dir / "slawatch-scram"
        password = self.password
        digest = hashlib.sha256(f"{self.username}:{password}".encode()).hexdigest()
        with contextlib.suppress(OSError):
            if marker.read_text(encoding="ascii").strip() == digest:
                return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # kafka-python's importlib use
            from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion
            from kafka.errors import KafkaError
        try:
            admin = KafkaAdminClient(bootstrap_servers=[bootstrap], client_id="slawatch-kafka-start")
            try:
                # One request per mechanism: the broker refuses two changes of one user at once.
                results = [
                    admin.alter_user_scram_credentials([UserScramCredentialUpsertion(self.username, m, password)])
                    for m in SCRAM_MECHANISMS
                ]
            finally:
                admin.close()
        except KafkaError as exc:
            msg = f"setting the SCRAM credentials of the local broker's user {self.username!r} failed: {exc}"
            raise BrokerError(msg) from exc
        problems = {
            m: r.get(self.username) for m, r in zip(SCRAM_MECHANISMS, results, strict=True) if r.get(self.username)
        }
        if problems:
            msg = f"the local broker refused the SCRAM credentials of {self.username!r}: {problems}"
            raise BrokerError(msg)
        write_private(marker, digest + "\n")

    # ------------------------------------------------------------ rendering
    def listeners(self, host: str) -> list[str]:
        return [f"{name}://{host}:{port}" for name, port in self.ports]

    def protocol_map(self) -> list[str]:
        return [f"{name}:{name}" for name, _ in self.ports]

    def server_properties(self) -> list[str]:
        """The broker lines of the TLS key store and the SASL user (after the listeners)."""
        pw = self._secrets()
        plain = (
            f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{self.username}="{pw["password"]}";'
        )
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        lines = [
            f"sasl.enabled.mechanisms={','.join(SASL_MECHANISMS)}",
            f"ssl.keystore.location={self.keystore}",
            f"ssl.keystore.password={pw['keystore_password']}",
            f"ssl.key.password={pw['keystore_password']}",
            "ssl.keystore.type=PKCS12",
        ]
        for listener in ("sasl_ssl", "sasl_plaintext"):
            lines.append(f"listener.name.{listener}.plain.sasl.jaas.config={plain}")
            lines += [f"listener.name.{listener}.{m.lower()}.sasl.jaas.config={scram}" for m in SCRAM_MECHANISMS]
        return lines

    def client_environment(
        self, host: str, protocol: str = "SASL_SSL", mechanism: str = "SCRAM-SHA-512"
    ) -> dict[str, str]:
        """The ``SLAWATCH_*`` variables that connect a client over ``protocol``."""
        port = dict(self.ports)[protocol]
        env = {"SLAWATCH_BROKER": f"{host}:{port}", "SLAWATCH_SECURITY_PROTOCOL": protocol}
        if protocol.startswith("SASL"):
            env |= {
                "SLAWATCH_SASL_MECHANISM": mechanism,
                "SLAWATCH_SASL_USERNAME": self.username,
                "SLAWATCH_SASL_PASSWORD": self.password,
            }
        if protocol.endswith("SSL"):
            env["SLAWATCH_SSL_CAFILE"] = str(self.ca_file)
        return env


def _keytool(java: str) -> str:
    beside = Path(java).resolve().parent / "keytool"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("keytool")
    if found is None:
        msg = (
            "cannot make the local broker's TLS key store: `keytool` (part of the JDK) is neither "
            "beside java nor on PATH; install a full JDK (openjdk-17-jdk-headless)"
        )
        raise BrokerError(msg)
    return found


def _run(cmd: list[str]) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=KEYTOOL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        msg = f"keytool took over {KEYTOOL_TIMEOUT:.0f} s making the local broker's TLS key store; try again"
        raise BrokerError(msg) from exc
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        msg = f"keytool failed making the local broker's TLS key store (exit code {done.returncode}): {output}"
        raise BrokerError(msg)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (it may hold a password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_TRUNC
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


@contextlib.contextmanager
def _private_file(folder: Path, text: str) -> Iterator[Path]:
    """A 0600 file holding ``text`` for a child process to read, removed afterwards."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".secret-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
