"""Fixtures shared by the unit tests of the worker's pieces."""

from __future__ import annotations

import pytest
from sla_scenarios import ts

from slawatch.agents.app import create_worker
from slawatch.agents.table_recovery import RebalanceSafeRecovery
from slawatch.settings import Settings
from slawatch.sla.policy import load_policy


@pytest.fixture
def recovery() -> RebalanceSafeRecovery:
    """The table recovery of a worker built as ``slawatch worker`` builds it (not started)."""
    w = create_worker(
        Settings(app_id="unit-recovery", partitions=4), load_policy(None), clock=lambda: ts("2026-11-16 11:00")
    )
    recovery = w.app.tables.recovery
    assert isinstance(recovery, RebalanceSafeRecovery)
    return recovery
