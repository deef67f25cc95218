"""Alert ids are ``uuid5(namespace, "ticket\\x1fmetric\\x1fkind\\x1flevel")`` (sla.md): the
hand-rolled formatting of the SHA-1 digest must equal the standard library's, since
consumers de-duplicate by id across restarts and versions. Likewise the memoised
spelling of alert instants (``format_instant``) must equal ``datetime.isoformat``'s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.sla.alerts import (
    _NAMESPACE,
    KIND_BREACHED,
    KIND_ESCALATED,
    KIND_WARNING,
    alert_id_for,
    format_instant,
)


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


def _isoformat(ts: float, tz: tzinfo) -> str:
    dt = datetime.fromtimestamp(ts, tz)
    return dt.isoformat(timespec="seconds" if dt.microsecond == 0 else "microseconds")


_ZONES: list[tzinfo] = [
    *(
        ZoneInfo(name)
        for name in (
            "Asia/Shanghai",  # the default display zone; LMT +08:05:43 before 1901
            "America/New_York",
            "Europe/Dublin",  # negative DST in the tz data
            "Australia/Lord_Howe",  # 30-minute DST
            "Asia/Kathmandu",  # +05:45
            "America/St_Johns",  # -03:30 / -02:30
            "Pacific/Apia",  # skipped a whole day in 2011
            "UTC",
        )
    ),
    UTC,
    timezone(timedelta(hours=-9, minutes=-30)),
    timezone(timedelta(seconds=3723)),
]


@pytest.mark.parametrize("tz", _ZONES, ids=str)
@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.integers(-62_135_596_800 - 86_400, 253_402_300_800 + 86_400),  # years 1-9999, and beyond (refused alike)
        st.integers(1_600_000_000, 1_900_000_000),
        st.floats(1_600_000_000, 1_900_000_000).map(lambda x: round(x, 6)),
    )
)
def test_format_instant_spells_what_datetime_does(tz: tzinfo, ts: float) -> None:
    try:
        expected = _isoformat(ts, tz)
    except (OverflowError, ValueError, OSError) as exc:
        with pytest.raises(type(exc)):
            format_instant(ts, tz)
    else:
        assert format_instant(ts, tz) == expected


@pytest.mark.parametrize("tz", _ZONES[:7], ids=str)
def test_format_instant_around_offset_changes(tz: tzinfo) -> None:
    # Every second of the hours around each change of offset in 2011-2026.
    checked = 0
    for ts in range(1_293_840_000, 1_798_761_600, 3600):
        if tz.utcoffset(datetime.fromtimestamp(ts, tz)) != tz.utcoffset(datetime.fromtimestamp(ts + 3600, tz)):
            for t in range(ts - 3600, ts + 7200, 7):  # every 7th second: all seconds of a minute
                assert format_instant(t, tz) == _isoformat(t, tz)
            checked += 1
    assert checked > 0 or str(tz) in ("Asia/Shanghai", "Asia/Kathmandu")
