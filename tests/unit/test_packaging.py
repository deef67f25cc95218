"""What ``pip install .`` puts into site-packages: one ``slawatch`` package, nothing generic.

The repository keeps ``streams/``, ``agents/``, ``metrics/`` and ``dashboards/`` at the top
(the owner's layout); pyproject maps them into ``slawatch.*``. A wheel built from the
checkout is exactly what ``pip install .`` installs, so its file list is the proof.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    (built,) = out.glob("slawatch-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def test_the_wheel_installs_only_the_slawatch_package(wheel_files: list[str]) -> None:
    top_level = {name.split("/", 1)[0] for name in wheel_files}
    assert {t for t in top_level if not t.endswith((".dist-info", ".data"))} == {"slawatch"}


@pytest.mark.parametrize("subpackage", ["streams", "agents", "metrics", "dashboards", "sla"])
def test_top_level_folders_are_mapped_into_slawatch(wheel_files: list[str], subpackage: str) -> None:
    assert f"slawatch/{subpackage}/__init__.py" in wheel_files


@pytest.mark.parametrize(
    "data_file",
    [
        "slawatch/data/default-policy.yaml",
        "slawatch/data/event.schema.json",
        "slawatch/data/policy.schema.json",
        "slawatch/data/kafka-pom.xml",
        "slawatch/data/kafka-log4j.properties",
        "slawatch/py.typed",
    ],
)
def test_data_files_ship_in_the_wheel(wheel_files: list[str], data_file: str) -> None:
    assert data_file in wheel_files


def test_dashboards_ship_as_code_and_json(wheel_files: list[str]) -> None:
    assert any(f.startswith("slawatch/dashboards/") and f.endswith(".dashboard.py") for f in wheel_files)
    assert any(f.startswith("slawatch/dashboards/json/") and f.endswith(".json") for f in wheel_files)


def test_one_console_script_named_slawatch(wheel: Path, wheel_files: list[str]) -> None:
    (entry_points,) = [f for f in wheel_files if f.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(entry_points).decode("utf-8")
    scripts = text.split("[console_scripts]", 1)[1].split("[", 1)[0]
    assert [line.strip() for line in scripts.strip().splitlines()] == ["slawatch = slawatch.cli:main"]
