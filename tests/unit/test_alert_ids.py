"""Alert ids are ``uuid5(namespace, "ticket\\x1fmetric\\x1fkind\\x1flevel")`` (sla.md): the
hand-rolled formatting of the SHA-1 digest must equal the standard library's, since
consumers de-duplicate by id across restarts and versions."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.sla.alerts import _NAMESPACE, KIND_BREACHED, KIND_ESCALATED, KIND_WARNING, alert_id_for


@settings(max_examples=2000, deadline=None)
@given(
    st.text(max_size=64),
    st.sampled_from(["response", "resolution", "complaint"]),
    st.sampled_from([KIND_WARNING, KIND_BREACHED, KIND_ESCALATED]),
    st.one_of(st.none(), st.integers(0, 3)),
)
def test_alert_id_is_the_standard_uuid5(ticket_id: str, metric: str, kind: str, level: int | None) -> None:
    name = f"{ticket_id}\x1f{metric}\x1f{kind}\x1f{level or ''}"
    expected = str(uuid.uuid5(_NAMESPACE, name))
    assert alert_id_for(ticket_id, metric, kind, level) == expected


def test_alert_id_is_stable() -> None:
    # pinned: a change here would make consumers see every alert as new
    assert alert_id_for("20261122007", "response", KIND_BREACHED, None) == str(
        uuid.uuid5(uuid.UUID("6f1c2b8e-5d0a-4c59-9a8e-3d5e7c1b2a90"), "20261122007\x1fresponse\x1fsla.breached\x1f")
    )
