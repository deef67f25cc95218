"""Properties of business calendars, checked on random calendars and spans.

The reference is deliberately naive and independent of the implementation: it reads
the wall clock of every UTC minute with :mod:`zoneinfo` and asks "is this local date and
time of day inside that date's hours?" (the rule of docs/calendars.md). Random calendars
put every boundary on a quarter hour and use zones whose offsets and changes fall on
whole minutes, so each UTC minute is either all working or all not, and walking minutes
is exact to the second. Spans are clustered around daylight-saving changes, year ends
and China's golden week, where bugs would hide.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from chinese_calendar.constants import holidays as CN_HOLIDAYS
from chinese_calendar.constants import workdays as CN_WORKDAYS
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.sla.calendar import BusinessCalendar

ZONES = (
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",  # 30-minute daylight-saving shift
    "America/Santiago",  # changes at local midnight
    "Asia/Kathmandu",  # +05:45
)
ANCHORS = tuple(
    int(datetime(y, m, d, tzinfo=UTC).timestamp())
    for y, m, d in (
        (2025, 12, 31),
        (2026, 3, 8),
        (2026, 3, 29),
        (2026, 4, 5),
        (2026, 9, 6),
        (2026, 10, 1),
        (2026, 10, 4),
        (2026, 10, 25),
        (2026, 11, 1),
        (2026, 12, 31),
    )
)
DAY = 86_400
QUARTER = 900
FAST = settings(max_examples=35, deadline=None)

Hours = tuple[tuple[int, int], ...]


class Reference:
    """A calendar spelled out naively from the same inputs, with no shared code."""

    def __init__(
        self,
        tz: str,
        weekly: dict[int, Hours],
        holidays: frozenset[date],
        workdays: frozenset[date],
        preset: bool,
    ) -> None:
        self.tz = ZoneInfo(tz)
        self.weekly = weekly
        self.holidays = holidays
        self.workdays = workdays
        self.preset = preset
        counts: dict[Hours, int] = {}
        for wd in range(7):
            if weekly.get(wd):
                counts[weekly[wd]] = counts.get(weekly[wd], 0) + 1
        best = max(counts.values())
        self.standard = next(weekly[wd] for wd in sorted(weekly) if counts[weekly[wd]] == best)

    def hours(self, d: date) -> Hours:
        own = self.weekly.get(d.weekday(), ())
        if d in self.workdays:
            return own or self.standard
        if d in self.holidays:
            return ()
        if self.preset and d in CN_WORKDAYS:
            return own or self.standard
        if self.preset and d in CN_HOLIDAYS:
            return ()
        return own

    def working(self, t: int) -> bool:
        local = datetime.fromtimestamp(t, self.tz)
        tod = local.hour * 3600 + local.minute * 60 + local.second
        return any(s <= tod < e for s, e in self.hours(local.date()))

    def elapsed(self, a: int, b: int) -> int:
        total = 0
        for m in range(a - a % 60, b, 60):
            if self.working(m):
                total += min(b, m + 60) - max(a, m)
        return total

    def add(self, a: int, n: int) -> int:
        if n <= 0:
            return a
        t = a
        while True:
            nxt = t - t % 60 + 60
            if self.working(t - t % 60):
                if nxt - t >= n:
                    return t + n
                n -= nxt - t
            t = nxt


@st.composite
def day_hours(draw: st.DrawFn) -> Hours:
    """0-3 disjoint working periods on a quarter-hour grid (00:00 .. 24:00)."""
    points = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    if len(points) % 2:
        points = points[:-1]
    return tuple((points[i] * QUARTER, points[i + 1] * QUARTER) for i in range(0, len(points), 2))


def clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


@st.composite
def calendars(draw: st.DrawFn) -> tuple[BusinessCalendar, Reference]:
    tz = draw(st.sampled_from(ZONES))
    weekly = {wd: h for wd in range(7) if (h := draw(day_hours()))}
    if not weekly:
        weekly = {draw(st.integers(0, 6)): ((9 * 3600, 18 * 3600),)}
    special = st.sets(st.dates(date(2025, 12, 20), date(2027, 1, 15)), max_size=8)
    holidays = frozenset(draw(special))
    workdays = frozenset(draw(special)) - holidays
    preset = draw(st.booleans())
    cal = BusinessCalendar(
        "random",
        tz,
        weekly={wd: [(clock(s), clock(e)) for s, e in h] for wd, h in weekly.items()},
        holidays=holidays,
        workdays=workdays,
        preset="cn" if preset else None,
    )
    return cal, Reference(tz, weekly, holidays, workdays, preset)


instants = st.builds(
    lambda anchor, offset: anchor + offset,
    st.sampled_from(ANCHORS),
    st.integers(-5 * DAY, 5 * DAY),
)
durations = st.integers(0, 10 * DAY)


@cache
def business() -> BusinessCalendar:
    return BusinessCalendar("business", preset="cn")


# -- agreement with the naive reference --------------------------------------------------


@FAST
@given(calendars(), instants, durations)
def test_elapsed_agrees_with_the_minute_by_minute_reference(
    pair: tuple[BusinessCalendar, Reference], a: int, length: int
) -> None:
    cal, ref = pair
    assert cal.elapsed(a, a + length) == ref.elapsed(a, a + length)


@FAST
@given(calendars(), instants, st.integers(0, 2 * DAY))
def test_add_agrees_with_the_minute_by_minute_reference(
    pair: tuple[BusinessCalendar, Reference], a: int, n: int
) -> None:
    cal, ref = pair
    assert cal.add(a, n) == ref.add(a, n)


@FAST
@given(calendars(), st.lists(instants, min_size=20, max_size=20))
def test_is_working_time_agrees_with_the_reference(pair: tuple[BusinessCalendar, Reference], ts: list[int]) -> None:
    cal, ref = pair
    assert [cal.is_working_time(t) for t in ts] == [ref.working(t) for t in ts]


# -- algebraic properties (cheap, so more examples and longer spans) ----------------------

MANY = settings(max_examples=70, deadline=None)
long_durations = st.integers(0, 300 * DAY)


@MANY
@given(calendars(), instants, st.integers(0, 200 * DAY))
def test_elapsed_until_the_deadline_is_exactly_the_added_time(
    pair: tuple[BusinessCalendar, Reference], a: int, n: int
) -> None:
    cal, _ = pair
    assert cal.elapsed(a, cal.add(a, n)) == n


@MANY
@given(calendars(), instants, st.floats(0, 30 * DAY, allow_nan=False))
def test_elapsed_until_a_fractional_deadline_reaches_the_added_time(
    pair: tuple[BusinessCalendar, Reference], a: int, n: float
) -> None:
    cal, _ = pair
    assert cal.elapsed(a, cal.add(a, n)) >= n - 1e-6


@MANY
@given(calendars(), instants, long_durations)
def test_adding_the_elapsed_time_never_overshoots(
    pair: tuple[BusinessCalendar, Reference], a: int, length: int
) -> None:
    cal, _ = pair
    b = a + length
    assert a <= cal.add(a, cal.elapsed(a, b)) <= b


@MANY
@given(calendars(), instants, long_durations, long_durations)
def test_elapsed_is_additive(pair: tuple[BusinessCalendar, Reference], a: int, ab: int, bc: int) -> None:
    cal, _ = pair
    b, c = a + ab, a + ab + bc
    assert cal.elapsed(a, b) + cal.elapsed(b, c) == cal.elapsed(a, c)


@MANY
@given(calendars(), instants, long_durations, long_durations)
def test_add_is_monotonic_in_the_added_time(
    pair: tuple[BusinessCalendar, Reference], a: int, n: int, more: int
) -> None:
    cal, _ = pair
    assert cal.add(a, n) <= cal.add(a, n + more)


@MANY
@given(calendars(), instants, long_durations, long_durations)
def test_elapsed_is_monotonic_in_the_end(
    pair: tuple[BusinessCalendar, Reference], a: int, length: int, more: int
) -> None:
    cal, _ = pair
    assert cal.elapsed(a, a + length) <= cal.elapsed(a, a + length + more)


@MANY
@given(calendars(), instants, long_durations)
def test_elapsed_never_exceeds_wall_time(pair: tuple[BusinessCalendar, Reference], a: int, length: int) -> None:
    cal, _ = pair
    assert 0 <= cal.elapsed(a, a + length) <= length


@MANY
@given(instants, st.integers(1, 3 * 365 * DAY), st.integers(0, 3 * 365 * DAY))
def test_business_calendar_round_trips_over_multi_year_spans(a: int, n: int, length: int) -> None:
    cal = business()
    assert cal.elapsed(a, cal.add(a, n)) == n
    assert cal.add(a, cal.elapsed(a, a + length)) <= a + length


def local_years(a: float, b: float) -> tuple[int, int]:
    zone = ZoneInfo("Asia/Shanghai")
    return datetime.fromtimestamp(a, zone).year, datetime.fromtimestamp(b, zone).year


@MANY
@given(instants, st.integers(1, 3 * 365 * DAY))
def test_the_years_without_holiday_data_a_deadline_reaches_are_exactly_those_noted(a: int, n: int) -> None:
    cal = BusinessCalendar("business", preset="cn")  # fresh: nothing noted yet
    deadline = cal.add(a, n)
    first, last = local_years(a, deadline)
    assert cal.years_without_data == set(cal.missing_years(first, last))


@MANY
@given(instants, st.integers(1, 3 * 365 * DAY))
def test_the_years_without_holiday_data_an_elapsed_time_covers_are_exactly_those_noted(a: int, length: int) -> None:
    cal = BusinessCalendar("business", preset="cn")
    cal.elapsed(a, a + length)
    first, last = local_years(a, a + length)
    assert cal.years_without_data == set(cal.missing_years(first, last))


@MANY
@given(st.integers(0, 4_000_000_000), st.integers(0, 10**9))
def test_twenty_four_seven_counts_wall_time(a: int, length: int) -> None:
    cal = BusinessCalendar.twenty_four_seven()
    assert cal.elapsed(a, a + length) == length
    assert cal.add(a, length) == a + length


def test_reference_sanity_friday_evening_to_monday() -> None:
    """The reference itself: 2 business hours from Fri 17:00 are Mon 10:00 in Shanghai."""
    ref = Reference(
        "Asia/Shanghai",
        {d: ((9 * 3600, 18 * 3600),) for d in range(5)},
        frozenset(),
        frozenset(),
        preset=False,
    )
    friday = int(datetime(2026, 3, 13, 17, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp())
    assert ref.add(friday, 7200) == friday + timedelta(days=2, hours=17) // timedelta(seconds=1)
