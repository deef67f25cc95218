"""The engine's Python adapter as the worker uses it: from more than one thread (events
on the event loop's thread, ``followups`` from the ``/metrics`` scrape's own thread), and
with a failure inside the native code turned into an ordinary exception."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sla_scenarios import created, ev, ts

from slawatch._native import PanicException
from slawatch.exceptions import EngineFault
from slawatch.sla.engine import SlaEngine
from slawatch.sla.events import parse_event
from slawatch.sla.policy import load_policy


def test_an_engine_made_on_one_thread_answers_on_another_as_on_its_own() -> None:
    engine = SlaEngine(load_policy(None))
    out = engine.apply(None, parse_event(created("2026-11-16 10:00")))
    state = out.state
    engine.apply(state, parse_event(ev("ticket.resolved", "2026-11-16 11:00")))
    now = ts("2026-11-30 10:00")
    here = (engine.next_due(state), list(engine.followups(state, now)), engine.expired(state, now))
    there: list[Any] = []
    errors: list[BaseException] = []

    def on_another_thread() -> None:
        try:
            there.append((engine.next_due(state), list(engine.followups(state, now)), engine.expired(state, now)))
            engine.apply(state, parse_event(ev("ticket.reopened", "2026-11-16 12:00")))
        except BaseException as exc:  # a native panic is a BaseException
            errors.append(exc)

    thread = threading.Thread(target=on_another_thread)
    thread.start()
    thread.join()
    assert errors == []
    assert there == [here]
    assert state.status == "open"  # the other thread's event was applied to the same state


def test_a_failure_inside_the_native_engine_is_an_ordinary_exception(monkeypatch: Any) -> None:
    # A Rust panic reaches Python as PanicException, a BaseException: the worker's
    # `except Exception` (dead-letter and go on) would not catch it.
    class Failing:
        def apply(self, *args: Any) -> Any:
            raise PanicException("index out of bounds")

    engine = SlaEngine(load_policy(None))
    monkeypatch.setattr(SlaEngine, "_native", property(lambda self: Failing()))
    with pytest.raises(EngineFault, match="index out of bounds") as caught:
        engine.apply(None, parse_event(created("2026-11-16 10:00")))
    assert isinstance(caught.value, Exception)
