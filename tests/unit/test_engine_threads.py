"""The engine is used from more than one thread: the worker applies events on its event
loop's thread and its ``/metrics`` scrape asks for ``followups`` from a thread of its own."""

from __future__ import annotations

import threading
from typing import Any

from sla_scenarios import created, ev, ts

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
