"""Why a Kafka client could not connect: no broker at all, or a handshake the broker refused."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from slawatch.settings import Settings
from slawatch.streams.clients import connection_problem


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port where something accepts TCP connections (and says nothing)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_nothing_listening_says_start_a_broker() -> None:
    settings = Settings(broker=f"127.0.0.1:{_closed_port()}")
    text = connection_problem(settings, TimeoutError("unable to bootstrap"))
    assert text.startswith("no Kafka broker answers at") and "slawatch kafka start" in text


def test_a_listener_that_refuses_the_handshake_points_at_the_security_settings(listening_port: int) -> None:
    settings = Settings(
        broker=f"127.0.0.1:{listening_port}",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="slawatch",
        sasl_password="secret",
    )
    text = connection_problem(settings, TimeoutError("unable to bootstrap"))
    assert "accepts connections but the Kafka handshake failed" in text
    assert "SASL_SSL, SASL SCRAM-SHA-512 as 'slawatch', TLS trusting the system CAs" in text
    assert "secret" not in text


def test_a_plaintext_client_at_a_secured_listener_is_told_its_protocol(listening_port: int) -> None:
    text = connection_problem(Settings(broker=f"127.0.0.1:{listening_port}"), TimeoutError("x"))
    assert "using PLAINTEXT could not complete it" in text and "SLAWATCH_SECURITY_PROTOCOL" in text


def test_only_the_servers_that_accept_connections_are_blamed_for_the_handshake(listening_port: int) -> None:
    closed = _closed_port()
    settings = Settings(broker=f"127.0.0.1:{closed},127.0.0.1:{listening_port}")
    text = connection_problem(settings, TimeoutError("x"))
    assert text.startswith(f"127.0.0.1:{listening_port} accepts connections")
    assert f"127.0.0.1:{closed}" not in text
