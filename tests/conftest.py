"""Shared pytest set-up: a clean environment and the integration marker.

Settings read ``SLAWATCH_*`` environment variables, so a developer's exported
``SLAWATCH_BROKER`` or ``SLAWATCH_POLICY_FILE`` would silently change what unit tests
see. Every test runs without them; ``SLAWATCH_TEST_*`` variables (which configure the
test run itself, e.g. ``SLAWATCH_TEST_BROKER``) are kept.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

INTEGRATION_DIR = Path(__file__).parent / "integration"


@pytest.fixture(autouse=True)
def _clean_slawatch_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("SLAWATCH_") and not name.startswith("SLAWATCH_TEST_"):
            monkeypatch.delenv(name)
    yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration is an integration test, marked or not."""
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
