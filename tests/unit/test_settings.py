"""The one settings object: defaults < settings file < SLAWATCH_* environment < flags,
validated at start-up with errors that name the source, the key and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from slawatch.cli import build_parser
from slawatch.exceptions import ConfigError
from slawatch.quickstart import local_broker_default
from slawatch.settings import FLAG_SPELLING, Settings, load_settings, write_settings_file


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SLAWATCH_"):
            monkeypatch.delenv(name)


def test_nothing_configured_gives_the_defaults_and_marks_nothing_as_set() -> None:
    settings = load_settings()
    assert settings.partitions == 8 and settings.broker == "127.0.0.1:9092"
    assert settings.model_fields_set == set()


def test_a_yaml_file_sets_values(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("partitions: 12\nbroker: kafka-1:9092\n", encoding="utf-8")
    settings = load_settings(path)
    assert settings.partitions == 12 and settings.broker == "kafka-1:9092"
    assert "partitions" in settings.model_fields_set


def test_a_toml_file_sets_values(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('partitions = 3\nstore = "rocksdb"\n', encoding="utf-8")
    settings = load_settings(path)
    assert settings.partitions == 3 and settings.store == "rocksdb"


def test_the_environment_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("partitions: 12\nweb_port: 7000\n", encoding="utf-8")
    monkeypatch.setenv("SLAWATCH_PARTITIONS", "4")
    settings = load_settings(path)
    assert settings.partitions == 4 and settings.web_port == 7000


def test_flags_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_PARTITIONS", "4")
    assert load_settings(None, partitions=6).partitions == 6


def test_a_flag_left_out_does_not_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_PARTITIONS", "4")
    assert load_settings(None, partitions=None).partitions == 4


def test_slawatch_config_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("app_id: from-file\n", encoding="utf-8")
    monkeypatch.setenv("SLAWATCH_CONFIG", str(path))
    assert load_settings().app_id == "from-file"


def test_a_bad_value_in_the_file_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("partitions: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert f"{path}: partitions: Input should be greater than or equal to 1" in str(err.value)
    assert err.value.file == str(path)


def test_an_unknown_key_in_the_file_says_to_remove_it(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("partitons: 4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"partitons: remove it \(unknown setting\)"):
        load_settings(path)


def test_a_bad_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_PARTITIONS", "eight")
    with pytest.raises(ConfigError, match="environment variable SLAWATCH_PARTITIONS: partitions"):
        load_settings()


def test_a_bad_flag_is_named() -> None:
    with pytest.raises(ConfigError, match="command-line flag --web-port: web_port"):
        load_settings(None, web_port=0)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("partitions: 0\nreplication_factor: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "partitions" in str(err.value) and "replication_factor" in str(err.value)


def test_a_missing_file_says_where_the_path_came_from(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read settings file.*--config or SLAWATCH_CONFIG"):
        load_settings(tmp_path / "nope.yaml")


def test_a_file_that_is_not_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("partitions: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{path}: not valid YAML"):
        load_settings(path)


def test_a_file_that_is_not_a_mapping_is_named(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("- partitions\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(path)


def test_a_settings_file_for_a_child_reads_back_the_same_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(broker="127.0.0.1:19092", partitions=3, sasl_password="s3cret")
    monkeypatch.setenv("SLAWATCH_BROKER", "elsewhere:9092")  # the parent's, already resolved
    env = write_settings_file(settings, tmp_path / "child.yaml")
    assert "SLAWATCH_BROKER" not in env  # it would override the file in the child
    assert env["SLAWATCH_SASL_PASSWORD"] == "s3cret"
    assert "s3cret" not in (tmp_path / "child.yaml").read_text(encoding="utf-8")
    monkeypatch.delenv("SLAWATCH_BROKER")
    monkeypatch.setenv("SLAWATCH_SASL_PASSWORD", "s3cret")
    child = load_settings(tmp_path / "child.yaml")
    assert child == settings


def test_a_settings_file_for_a_child_is_plain_yaml(tmp_path: Path) -> None:
    write_settings_file(Settings(partitions=5), tmp_path / "child.yaml")
    values = yaml.safe_load((tmp_path / "child.yaml").read_text(encoding="utf-8"))
    assert values["partitions"] == 5 and "sasl_password" not in values


def test_the_worker_and_the_backtest_keep_the_same_closed_tickets_by_default() -> None:
    from slawatch.cli import build_parser
    from slawatch.sla.engine import RETAIN_CLOSED_TICKETS

    backtest = build_parser().parse_args(["backtest", "events.jsonl"])
    assert Settings().retain_closed_tickets == RETAIN_CLOSED_TICKETS == backtest.retain_closed
    assert Settings().retention_seconds == backtest.retention_days * 86400


@pytest.mark.parametrize("value", ["repair,sales", " repair , sales ", '["repair", "sales"]'])
def test_a_list_setting_in_the_environment_is_comma_separated_or_a_json_array(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SLAWATCH_DEPARTMENTS", value)
    monkeypatch.setenv("SLAWATCH_WINDOW_SIZES_SECONDS", "60,300")
    settings = load_settings()
    assert settings.departments == ("repair", "sales") and settings.window_sizes_seconds == (60, 300)


def test_a_bad_item_of_a_list_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_WINDOW_SIZES_SECONDS", "60,an hour")
    with pytest.raises(ConfigError, match="environment variable SLAWATCH_WINDOW_SIZES_SECONDS"):
        load_settings()
    monkeypatch.setenv("SLAWATCH_WINDOW_SIZES_SECONDS", "[60,")
    with pytest.raises(ConfigError, match="not a JSON array"):
        load_settings()


@pytest.mark.parametrize("value", ["", " ", ","])
def test_an_empty_list_setting_in_the_environment_is_refused_not_taken_as_no_values(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SLAWATCH_WINDOW_SIZES_SECONDS", value)
    with pytest.raises(ConfigError, match=r"SLAWATCH_WINDOW_SIZES_SECONDS.*empty"):
        load_settings()


def test_the_quickstart_broker_follows_the_local_kafka_port_when_none_is_named() -> None:
    assert local_broker_default(Settings(kafka_port=19092)).broker == "127.0.0.1:19092"
    assert local_broker_default(Settings()).broker == "127.0.0.1:9092"


def test_a_named_broker_is_kept_by_the_quickstart_whatever_the_local_kafka_port() -> None:
    named = Settings(kafka_port=19092, broker="10.0.0.5:9092")
    assert local_broker_default(named).broker == "10.0.0.5:9092"


def test_an_environment_variable_is_named_even_when_the_command_has_that_flag_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # argparse hands every flag over, None when not given: that is not a flag's value.
    monkeypatch.setenv("SLAWATCH_PARTITIONS", "abc")
    with pytest.raises(ConfigError) as info:
        load_settings(partitions=None, broker=None)
    assert "environment variable SLAWATCH_PARTITIONS" in str(info.value)
    assert "--partitions" not in str(info.value)


def test_a_ca_file_that_does_not_exist_is_refused_at_start_with_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLAWATCH_SSL_CAFILE", str(tmp_path / "kafka-ca.pem"))
    monkeypatch.setenv("SLAWATCH_SECURITY_PROTOCOL", "SSL")
    with pytest.raises(ConfigError) as info:
        load_settings()
    text = str(info.value)
    assert "SLAWATCH_SSL_CAFILE" in text and "kafka-ca.pem" in text and "not a readable file" in text


def test_a_ca_file_is_not_looked_for_while_tls_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A variable left over from another shell must not stop a backtest or a plaintext worker.
    monkeypatch.setenv("SLAWATCH_SSL_CAFILE", str(tmp_path / "gone.pem"))
    assert load_settings().ssl_cafile == tmp_path / "gone.pem"


def test_a_relative_ca_file_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ca.pem").write_text("pem", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLAWATCH_SSL_CAFILE", "ca.pem")
    monkeypatch.setenv("SLAWATCH_SECURITY_PROTOCOL", "SASL_SSL")
    assert load_settings().ssl_cafile == tmp_path / "ca.pem"


def test_an_empty_ca_file_variable_means_the_system_cas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLAWATCH_SSL_CAFILE", "")
    assert load_settings().ssl_cafile is None


def test_sasl_without_credentials_is_refused_before_any_client_is_built() -> None:
    settings = Settings(security_protocol="SASL_SSL", sasl_username="slawatch")
    with pytest.raises(ConfigError, match="SLAWATCH_SASL_PASSWORD"):
        settings.kafka_client_options()


def test_a_sasl_client_without_a_mechanism_uses_plain() -> None:
    options = Settings(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p").kafka_client_options()
    assert options["sasl_mechanism"] == "PLAIN"
    assert options["sasl_plain_username"] == "u" and options["sasl_plain_password"] == "p"


def test_a_bad_flag_is_named_as_the_user_typed_it() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(kafka_port=0)
    assert "command-line flag --port" in str(info.value)


def test_every_renamed_flag_is_spelled_as_the_parser_defines_it() -> None:
    spelled = {
        action.dest: action.option_strings[0]
        for sub in build_parser()._subparsers._group_actions[0].choices.values()  # type: ignore[union-attr]
        for action in sub._actions
        if action.option_strings and action.dest in FLAG_SPELLING
    }
    assert spelled == FLAG_SPELLING


def test_an_empty_sasl_password_is_refused_like_a_missing_one() -> None:
    # What `export SLAWATCH_SASL_PASSWORD="$(...)"` gives when the command in it fails.
    settings = Settings(security_protocol="SASL_SSL", sasl_username="slawatch", sasl_password="")
    with pytest.raises(ConfigError, match="SLAWATCH_SASL_PASSWORD is unset or empty"):
        settings.kafka_client_options()


def test_the_session_timeout_reaches_faust_and_is_bounded_as_kafka_bounds_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from slawatch.agents.app import _faust_options

    monkeypatch.setenv("SLAWATCH_SESSION_TIMEOUT_SECONDS", "15")
    assert _faust_options(load_settings())["broker_session_timeout"] == 15
    monkeypatch.setenv("SLAWATCH_SESSION_TIMEOUT_SECONDS", "3")
    with pytest.raises(ConfigError, match="SLAWATCH_SESSION_TIMEOUT_SECONDS"):
        load_settings()


def test_the_expiry_sweep_interval_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().expire_sweep_seconds == 600
    monkeypatch.setenv("SLAWATCH_EXPIRE_SWEEP_SECONDS", "15")
    assert load_settings().expire_sweep_seconds == 15
    monkeypatch.setenv("SLAWATCH_EXPIRE_SWEEP_SECONDS", "0")
    with pytest.raises(ConfigError, match="SLAWATCH_EXPIRE_SWEEP_SECONDS"):
        load_settings()


def test_every_setting_is_in_the_operations_settings_reference() -> None:
    reference = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`SLAWATCH_{name.upper()}`" not in reference]
    assert missing == []


def test_the_settings_reference_gives_each_default() -> None:
    reference = (Path(__file__).parents[2] / "docs" / "operations.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1]: line for line in reference.splitlines() if line.startswith("| `SLAWATCH_")}
    label_lists = {"departments", "channels", "product_lines", "vendors"}  # "see metrics.md"
    wrong = []
    for name, field in Settings.model_fields.items():
        default = field.default
        if field.default_factory is not None or default is None or name in label_lists:
            continue
        if isinstance(default, tuple):
            shown = ",".join(str(v) for v in default)
        elif isinstance(default, float) and default.is_integer():
            shown = str(int(default))
        else:
            shown = str(default)
        row = next(line for cell, line in rows.items() if f"`SLAWATCH_{name.upper()}`" in cell)
        if f"`{shown}`" not in row:
            wrong.append((name, shown))
    assert wrong == []
