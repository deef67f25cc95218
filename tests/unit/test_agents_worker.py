"""Start-up checks of ``slawatch worker``: wrong settings fail before Kafka is touched."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from slawatch.agents.worker import check_settings, check_web_port, warn_calendars, worker_urls
from slawatch.exceptions import ConfigError
from slawatch.settings import Settings
from slawatch.sla.policy import load_policy


def test_default_settings_pass() -> None:
    check_settings(Settings())


def test_two_roles_on_one_topic_are_rejected_with_both_names() -> None:
    with pytest.raises(ConfigError) as info:
        check_settings(Settings(topic_alerts="tickets.events"))
    assert "topic_alerts and topic_events" in str(info.value)


def test_sasl_without_credentials_says_which_variables() -> None:
    with pytest.raises(ConfigError) as info:
        check_settings(Settings(security_protocol="SASL_SSL", sasl_mechanism="PLAIN"))
    assert "SLAWATCH_SASL_USERNAME" in str(info.value)


def test_mechanism_without_sasl_protocol_says_which_variable() -> None:
    with pytest.raises(ConfigError) as info:
        check_settings(Settings(sasl_mechanism="PLAIN"))
    assert "SLAWATCH_SECURITY_PROTOCOL" in str(info.value)


def test_window_sizes_must_be_distinct() -> None:
    with pytest.raises(ConfigError, match="distinct"):
        check_settings(Settings(window_sizes_seconds=(60, 60)))


def test_urls_use_loopback_for_wildcard_bind() -> None:
    urls = worker_urls(Settings(web_host="0.0.0.0", web_port=7000))
    assert urls["metrics"] == "http://127.0.0.1:7000/metrics"
    assert urls["at_risk"] == "http://127.0.0.1:7000/sla/at-risk"


def test_calendar_warnings_for_years_the_preset_lacks(caplog: pytest.LogCaptureFixture) -> None:
    missing = warn_calendars(load_policy(None), datetime(2099, 1, 1, tzinfo=UTC))
    assert ("business", 2099) in missing
    assert "2099" in caplog.text


def test_a_web_port_another_process_listens_on_is_refused_naming_the_flag() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"web_port {port} .* already in use.*--web-port or SLAWATCH_WEB_PORT"):
            check_web_port(Settings(web_port=port))


def test_a_free_web_port_passes() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_web_port(Settings(web_port=port))


def test_a_web_host_that_is_not_an_address_of_this_host_is_named_with_its_variable() -> None:
    with pytest.raises(ConfigError, match=r"web_host '192\.0\.2\.1'.*SLAWATCH_WEB_HOST") as info:
        check_web_port(Settings(web_host="192.0.2.1"))  # TEST-NET-1: never this host's
    assert "already in use" not in str(info.value)
