"""docker-compose.yml and the Dockerfile, checked without Docker: they parse, every path
they reference exists, and the services agree on names, ports and mount points."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
REQUIRED_SERVICES = {"kafka", "worker", "prometheus", "alertmanager", "grafana"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path, container path) of the service's bind mounts (named volumes left out)."""
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                out.append((volume["source"], volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/", "~")):
            out.append((source, target))
    return out


def mount_target(service: dict[str, Any], host_path: str) -> str:
    for source, target in bind_mounts(service):
        if (REPO / source).resolve() == (REPO / host_path).resolve():
            return target
    msg = f"{host_path} is not mounted"
    raise AssertionError(msg)


def test_services_are_present(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= REQUIRED_SERVICES


def test_bind_mounted_paths_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for source, _ in bind_mounts(service):
            assert (REPO / source).exists(), f"{name}: {source} does not exist"


def test_build_contexts_and_dockerfiles_exist(services: dict[str, dict[str, Any]]) -> None:
    built = {name: s["build"] for name, s in services.items() if "build" in s}
    assert "worker" in built
    for name, build in built.items():
        context = REPO / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert context.is_dir(), name
        assert (context / dockerfile).is_file(), name


def test_named_volumes_are_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if isinstance(volume, str) and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_depends_on_names_services(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_kafka_is_a_single_kraft_node(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert re.fullmatch(r"apache/kafka:3\.9\.\d+", kafka["image"])
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == 1
    assert "healthcheck" in kafka


def test_worker_talks_to_kafka_and_serves_metrics(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    env = worker["environment"]
    assert env["SLAWATCH_BROKER"] == "kafka:9092"
    assert env["SLAWATCH_WEB_HOST"] == "0.0.0.0"
    assert str(env["SLAWATCH_WEB_PORT"]) == "6066"
    assert worker["command"] == ["worker"]
    assert worker["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_prometheus_mounts_what_its_config_names(services: dict[str, dict[str, Any]]) -> None:
    prometheus = services["prometheus"]
    config_in_container = mount_target(prometheus, "./deploy/prometheus/prometheus.compose.yml")
    assert f"--config.file={config_in_container}" in prometheus["command"]
    rules_dir = mount_target(prometheus, "./deploy/prometheus/rules")
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.compose.yml").read_text("utf-8"))
    assert config["rule_files"] == [f"{rules_dir}/*.yml"]
    scrape = {job["job_name"]: job for job in config["scrape_configs"]}["slawatch"]
    assert scrape["dns_sd_configs"][0]["names"] == ["worker"]
    target = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert target.split(":")[0] in services


def test_alertmanager_mounts_its_config(services: dict[str, dict[str, Any]]) -> None:
    alertmanager = services["alertmanager"]
    target = mount_target(alertmanager, "./deploy/alertmanager/alertmanager.yml")
    assert f"--config.file={target}" in alertmanager["command"]


def test_grafana_provisioning_points_at_the_dashboards(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    provisioning = mount_target(grafana, "./deploy/grafana/provisioning")
    assert provisioning == "/etc/grafana/provisioning"
    dashboards_dir = mount_target(grafana, "./dashboards/json")
    providers = yaml.safe_load((REPO / "deploy/grafana/provisioning/dashboards/slawatch.yml").read_text("utf-8"))[
        "providers"
    ]
    assert providers[0]["options"]["path"] == dashboards_dir
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(dashboards_dir + "/")
    assert (REPO / "dashboards/json" / Path(home).name).is_file()
    sources = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/slawatch.yml").read_text("utf-8"))[
        "datasources"
    ]
    prometheus = next(s for s in sources if s["type"] == "prometheus")
    # The dashboards' $datasource variable defaults to the data source named "Prometheus".
    assert prometheus["name"] == "Prometheus"
    assert prometheus["url"] == "http://prometheus:9090"


def test_dockerfile_installs_every_package_folder() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, flags=re.MULTILINE)
    # The wheel is built in a stage with a Rust toolchain (the engine is compiled) and
    # installed in the image that runs.
    assert re.search(r"^FROM python:3\.11-slim AS build$", text, flags=re.MULTILINE)
    assert re.search(r"^RUN pip wheel --no-deps -w /wheels \.$", text, flags=re.MULTILINE)
    assert re.search(r"^RUN pip install .*/wheels/slawatch-\*\.whl.*\[rocksdb\]", text, flags=re.MULTILINE)
    assert 'ENTRYPOINT ["slawatch"]' in text
    assert 'CMD ["worker"]' in text
    assert "SLAWATCH_WEB_HOST=0.0.0.0" in text
    copied = set()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, flags=re.MULTILINE):
        *sources, _ = line.split()
        for source in sources:
            matches = list(REPO.glob(source))
            assert matches or "*" in source, f"COPY {source}: no such path"
            copied.add(source.rstrip("/"))
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    folders = {"slawatch", *pyproject["tool"]["setuptools"]["package-dir"].values()}
    folders |= {str(Path(ext["path"]).parent) for ext in pyproject["tool"]["setuptools-rust"]["ext-modules"]}
    assert folders <= copied, f"Dockerfile does not COPY {sorted(folders - copied)}"
