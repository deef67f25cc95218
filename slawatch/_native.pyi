"""Type stubs for the native extension (native/src): what Python imports from it."""

from collections.abc import Iterable
from typing import Any

from slawatch.sla.alerts import Alert
from slawatch.sla.engine import Observation, TicketState
from slawatch.sla.events import TicketEvent

class NativeEngine:
    """The SLA rules (native/src/engine.rs) over Python ticket states, updated in place."""

    def __init__(self, policy: Any, retention_seconds: float) -> None: ...
    def apply(self, state: TicketState, event: TicketEvent) -> tuple[list[Alert], list[Observation], bool, bool]: ...
    def advance(self, state: TicketState, now: float, inclusive: bool) -> list[Alert]: ...
    def next_due(self, state: TicketState) -> float | None: ...
    def expired(self, state: TicketState, now: float) -> bool: ...
    def followups(
        self, resolved_at: float | None, survey_done: bool, followup_done: bool, now: float
    ) -> Iterable[tuple[str, str]]: ...
