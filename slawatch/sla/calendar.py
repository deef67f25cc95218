"""Business calendars: how much working time lies between two instants, and when N
business seconds after an instant will have passed.

Every SLA clock measures its elapsed time on a calendar and asks it for its deadline,
once or more per event at up to ~100,000 events/s, so both questions must be cheap and
exact to the second across daylight-saving changes, midnight, weekends, holidays and
multi-year spans.

How: the calendar turns each local date's working hours into UTC epoch intervals
``[start, end)``, lazily, one local year at a time, and keeps them sorted with running
totals (prefix sums) of business seconds. ``cum(t)`` -- business seconds before ``t``
-- is then one :func:`bisect.bisect_right`, ``elapsed(a, b) = cum(b) - cum(a)``, and
``add(a, n)`` is the first instant where ``cum`` reaches ``cum(a) + n``, one
:func:`bisect.bisect_left` on the running totals. Interval bounds are ints, so integer
inputs give exact integer answers.

Time-zone rule (documented for policy authors in ``docs/calendars.md``): *an instant is
working time when the wall clock of the calendar's zone, at that instant, shows a date
and a time of day inside that date's working hours*. Consequences: a working interval
is measured in real elapsed seconds; wall-clock times skipped by a spring-forward
change do not exist and count nothing (``01:00-04:00`` on a day that jumps from 02:00 to
03:00 is 2 h); wall-clock times repeated by a fall-back change count each time they
occur (``00:00-03:00`` on a day that goes back from 02:00 to 01:00 is 4 h).
"""

from __future__ import annotations

import hashlib
import math
import zoneinfo
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slawatch.sla.holidays import PRESETS, preset_holidays, preset_workdays, preset_years

__all__ = ["BusinessCalendar", "CalendarError"]


class CalendarError(ValueError):
    """A calendar definition that cannot work: which part of it (``field``, named as
    in a policy file), what is wrong and the fix, so a policy check can point at the key."""

    def __init__(self, name: str, field: str | None, problem: str, fix: str) -> None:
        super().__init__(f"calendar {name!r}: {problem}; {fix}")
        self.field = field
        self.problem = problem
        self.fix = fix


_DAY = 86_400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Larger than any UTC offset a zone has ever used (the record is under 16 h), so an
# instant's wall-clock reading is always within one day of the instant read as UTC.
_MARGIN = _DAY
# Offsets change a few times a year at most, weeks apart, so sampling once a day and
# bisecting between samples whose offsets differ finds every change (several changes
# inside one day are found too, as long as they do not cancel out within that day).
_OFFSET_SAMPLE = _DAY
# datetime arithmetic must stay inside years 1..9999 including the margins.
_MIN_YEAR, _MAX_YEAR = 1900, 9990
# A query within this many years of the loaded ones extends them (a missing year costs a
# few ms, once); farther, it gets an index of its own years (see _cover): a mistyped 2206
# for 2026 must not load 180 years, and 2016 for 2026 must not rebuild at each switch.
_JOIN_YEARS = 50
# Built years kept beyond those of the current index (a few KB each): enough for the
# back-and-forth of real data, bounded against events with scattered bogus years.
_KEEP_BUILT_YEARS = 200
# Beyond this many lines a per-run explanation is no longer readable: summarise by year.
_EXPLAIN_MAX_LINES = 40
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DEFAULT_WEEKLY: dict[int, list[tuple[str, str]]] = {d: [("09:00", "18:00")] for d in range(5)}

Hours = tuple[tuple[int, int], ...]
"""A day's working hours: sorted, disjoint ``(start, end)`` seconds since local midnight."""


@dataclass(frozen=True, slots=True)
class _Index:
    """Working intervals of the local years ``y_lo..y_hi`` in UTC, with running totals.

    Complete for every instant in ``[safe_lo, safe_hi]``: an instant there cannot have
    a wall-clock date outside the loaded years. Replaced as a whole (never mutated), so
    a reader holding one always sees a consistent set of lists.
    """

    y_lo: int
    y_hi: int
    safe_lo: int
    safe_hi: int
    starts: list[int]
    ends: list[int]
    before: list[int]  # business seconds before interval i
    after: list[int]  # business seconds up to the end of interval i

    @property
    def total(self) -> int:
        return self.after[-1] if self.after else 0

    def cum(self, t: float) -> float:
        """Business seconds from the start of the index up to ``t``."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        if t >= self.ends[i]:
            return self.after[i]
        return self.before[i] + (t - self.starts[i])


class BusinessCalendar:
    """A named working-time calendar in one IANA time zone.

    ``weekly`` maps weekday (0 = Monday .. 6 = Sunday) to working hours, e.g.
    ``{0: [("09:00", "12:00"), ("13:00", "18:00")], ...}``; a weekday left out is
    closed, and ``None`` means Monday-Friday 09:00-18:00. ``holidays`` are dates with no
    working hours; ``workdays`` are make-up working days (调休上班): a weekday works its
    own hours, a closed weekday (e.g. Saturday) works the *standard day's* hours. The
    standard day is the most common non-empty weekday schedule (earliest weekday on a
    tie), and its length is the default ``working_day_seconds`` used for "N working
    days" targets. ``preset="cn"`` adds mainland China's published holidays and make-up
    days; an explicit date wins over the preset (an explicit workday works even if the
    preset says holiday, and the other way round).

    ``always_open`` calendars (see :meth:`twenty_four_seven`) count every second and
    ignore hours and holidays; their working day is 24 h.

    Raises :class:`CalendarError` (a :class:`ValueError`) at construction for anything that would make the
    answers wrong later (unknown zone or preset, malformed or overlapping hours, a date
    both holiday and workday, no working hours at all).
    """

    name: str
    timezone: str
    always_open: bool
    working_day_seconds: int
    preset: str | None

    def __init__(
        self,
        name: str,
        timezone: str = "Asia/Shanghai",
        weekly: Mapping[int, Sequence[tuple[str, str]]] | None = None,
        holidays: Iterable[date] = (),
        workdays: Iterable[date] = (),
        preset: str | None = None,
        always_open: bool = False,
        working_day_seconds: int | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            msg = f"calendar name must be a non-empty string; got {name!r}"
            raise ValueError(msg)
        self.name = name
        self.timezone = timezone
        self._tz = _zone(name, timezone)
        self.always_open = bool(always_open)
        self.preset = preset
        explicit_off = _dates(name, "holidays", holidays)
        explicit_on = _dates(name, "workdays", workdays)
        if preset is not None and preset not in PRESETS:
            raise CalendarError(
                name,
                "holidays_preset",
                f"unknown holiday preset {preset!r}",
                f"expected one of {', '.join(PRESETS)} or none",
            )
        if self.always_open and (weekly is not None or explicit_off or explicit_on or preset):
            raise CalendarError(
                name,
                "always_open",
                "a 24x7 (always_open) calendar counts every second, so weekly hours, holidays, "
                "workdays and presets would be ignored",
                "remove them or set always_open to false",
            )
        both = sorted(explicit_off & explicit_on)
        if both:
            raise CalendarError(
                name, "workdays", f"{', '.join(map(str, both))} listed both as holiday and as workday",
                "keep each date in one list",
            )  # fmt: skip

        self._weekly: tuple[Hours, ...] = _weekly_hours(name, _DEFAULT_WEEKLY if weekly is None else weekly)
        self._standard: Hours = _standard_day(self._weekly)
        if not self._standard and not self.always_open:
            raise CalendarError(
                name, "hours", "no working hours on any weekday, so no deadline could ever be reached",
                "give weekly hours or use a 24x7 calendar",
            )  # fmt: skip
        if working_day_seconds is None:
            working_day_seconds = _DAY if self.always_open else sum(e - s for s, e in self._standard)
        if (
            isinstance(working_day_seconds, bool)
            or not isinstance(working_day_seconds, int)
            or (working_day_seconds <= 0)
        ):
            raise CalendarError(
                name, "working_day_hours",
                f"working_day_seconds must be a positive whole number of seconds, got {working_day_seconds!r}",
                "give a working day of at least one second",
            )  # fmt: skip
        self.working_day_seconds = working_day_seconds

        # Effective day-off and make-up-day maps, with names for explain(). Explicit
        # dates override the preset; when both say the same, the preset's name is kept.
        off: dict[date, str] = dict.fromkeys(explicit_off, "holiday (policy)")
        on: dict[date, str] = dict.fromkeys(explicit_on, "make-up working day (policy)")
        self._preset_years: range = range(0)
        if preset is not None:
            self._preset_years = preset_years(preset)
            off.update((d, n) for d, n in preset_holidays(preset).items() if d not in explicit_on)
            on.update((d, n) for d, n in preset_workdays(preset).items() if d not in explicit_off)
        self._off = off
        self._on = on
        self._explicit_years = frozenset(d.year for d in explicit_off | explicit_on)
        self._n_explicit = (len(explicit_off), len(explicit_on))

        self._years: dict[int, list[tuple[int, int]]] = {}
        self._index: _Index | None = None
        #: Local years this calendar has counted working time in without holiday data
        #: (see :meth:`missing_years`): a clock that runs into such a year, not only one
        #: started there, is reported by the engine's callers.
        self.years_without_data: set[int] = set()
        # Years known to need no report (the preset's, explicit ones next to them, and
        # those already noted), as wall-clock bounds one day inside, so the hot path
        # checks an interval with two comparisons.
        self._known_years = (self._preset_years.start, self._preset_years.stop - 1)
        self._known_lo = -math.inf
        self._known_hi = math.inf
        if self.preset is not None and not self.always_open and self._preset_years:
            first, last = self._known_years
            while first - 1 in self._explicit_years:
                first -= 1
            while last + 1 in self._explicit_years:
                last += 1
            self._set_known(first, last)

    @classmethod
    def twenty_four_seven(cls, name: str = "24x7", timezone: str = "UTC") -> BusinessCalendar:
        """A calendar on which every second counts (e.g. ``major`` response targets)."""
        return cls(name, timezone, always_open=True)

    def __repr__(self) -> str:
        kind = "24x7" if self.always_open else _weekly_summary(self._weekly)
        preset = f", preset={self.preset!r}" if self.preset else ""
        return f"BusinessCalendar({self.name!r}, {self.timezone!r}, {kind}{preset})"

    # -- the hot path ---------------------------------------------------------------

    def elapsed(self, start: float, end: float) -> float:
        """Business seconds in ``[start, end)``; 0 when ``end <= start``."""
        if end <= start:
            return 0
        if self.always_open:
            span = end - start
            if span - span != 0:  # NaN or infinite: refused, as on other calendars
                _year_of(self.name, start if start - start != 0 else end)
            return span
        idx = self._index
        # Written as "not inside" so that a NaN instant goes to _cover, which refuses it.
        if idx is None or not (idx.safe_lo <= start and end <= idx.safe_hi):
            idx = self._cover(start, end)
        if start < self._known_lo or end > self._known_hi:
            self._note_years(start, end)
        return idx.cum(end) - idx.cum(start)

    def add(self, start: float, seconds: float) -> float:
        """The earliest instant ``t >= start`` with ``elapsed(start, t) >= seconds``.

        ``seconds <= 0`` gives ``start``. The result lies inside (or at the end of) a
        working interval, never at the start of the next one: 1 business hour after
        Friday 17:00 on a 09:00-18:00 calendar is Friday 18:00, not Monday 09:00.
        """
        if seconds != seconds:  # NaN would silently compare false everywhere
            msg = f"calendar {self.name!r}: cannot add NaN seconds"
            raise ValueError(msg)
        if seconds <= 0:
            return start
        if self.always_open:
            t = start + seconds
            if t - t != 0:  # a NaN or infinite start: refused, as on other calendars
                _year_of(self.name, start)
            return t
        idx = self._index
        if idx is None or not (idx.safe_lo <= start <= idx.safe_hi):  # NaN: refused by _cover
            idx = self._cover(start, start)
        while True:
            target = idx.cum(start) + seconds
            if type(target) is float:
                # Whole microseconds, as instants are parsed: float noise past the end
                # of an interval would land the result at the next interval's start.
                target = round(target, 6)
            if target <= idx.total:
                i = bisect_left(idx.after, target)
                t = idx.starts[i] + (target - idx.before[i])
                if t <= idx.safe_hi:
                    if start < self._known_lo or t > self._known_hi:
                        self._note_years(start, t)
                    return t if t >= start else start
                reach = t
            else:
                # Not enough working time loaded: extend by an estimate of the years
                # still needed (at least one), so a 3-year target costs one rebuild.
                span = idx.safe_hi - idx.safe_lo
                rate = idx.total / span if span > 0 and idx.total > 0 else 0.0
                missing = target - idx.total
                guess = missing / rate if rate else 366 * _DAY
                reach = idx.safe_hi + max(366 * _DAY, min(guess * 1.1, 8000 * 366 * _DAY))
            idx = self._cover(start, reach)

    def is_working_time(self, t: float) -> bool:
        """Whether the instant ``t`` is inside working hours (not on a holiday)."""
        if self.always_open:
            return True
        idx = self._index
        if idx is None or not (idx.safe_lo <= t and t + 1 <= idx.safe_hi):  # NaN: refused by _cover
            idx = self._cover(t, t + 1)
        i = bisect_right(idx.starts, t) - 1
        return i >= 0 and t < idx.ends[i]

    def definition(self) -> tuple[object, ...]:
        """Everything that decides this calendar's arithmetic, as plain values.

        Equal definitions give equal ``elapsed`` and ``add`` answers, so a digest of it
        tells whether an instant computed by an earlier process, perhaps under an older
        policy file, holiday library or time-zone database, still holds. The name is
        left out: it only labels the calendar.
        """
        return (
            self.timezone,
            _zone_data_digest(self.timezone),
            self.always_open,
            self._weekly,
            sorted(self._off),
            sorted(self._on),
            (self._preset_years.start, self._preset_years.stop),
        )

    # -- holiday coverage -----------------------------------------------------------

    def missing_years(self, first_year: int, last_year: int) -> list[int]:
        """Years in ``first_year..last_year`` the preset lacks and the policy lists nothing for.

        In such a year the calendar silently knows no holidays, so deadlines may fall on
        a public holiday; callers turn each year into a start-up warning, a
        ``policy check`` line and the ``slawatch_calendar_year_missing`` metric. A
        calendar without a preset never lacks a year (its lists are all there is).
        """
        if self.preset is None or self.always_open:
            return []
        return [
            y for y in range(first_year, last_year + 1) if y not in self._preset_years and y not in self._explicit_years
        ]

    def _note_years(self, start: float, end: float) -> None:
        """Remember the years of ``[start, end]`` that lack holiday data."""
        y0, y1 = self._local(start).year, self._local(end).year
        self.years_without_data.update(self.missing_years(y0, y1))
        first, last = self._known_years
        if y0 < first <= y1 + 1:
            first = y0
        if y1 > last >= y0 - 1:
            last = y1
        self._set_known(first, last)

    def _set_known(self, first: int, last: int) -> None:
        self._known_years = (first, last)
        self._known_lo = _wall(first) + _MARGIN if first > _MIN_YEAR else -math.inf
        self._known_hi = _wall(last + 1) - _MARGIN if last < _MAX_YEAR else math.inf

    def warnings_for(self, t: float) -> list[str]:
        """Warnings about the calendar's data for the local year of instant ``t``."""
        if self.preset is None or self.always_open:
            return []
        years = self._preset_years
        if years and _wall(years.start) + _MARGIN <= t < _wall(years.stop) - _MARGIN:
            return []  # fast path: certainly inside the preset's years
        year = (_UTC_EPOCH + timedelta(seconds=t)).astimezone(self._tz).year
        return [self._missing_message(y) for y in self.missing_years(year, year)]

    def _missing_message(self, year: int) -> str:
        return (
            f"calendar {self.name!r}: holiday preset {self.preset!r} has no data for {year}; "
            "using the policy's explicit list (none given) — add holidays/workdays for "
            f"{year} to the policy"
        )

    # -- explain --------------------------------------------------------------------

    def explain(self, start: float, end: float) -> list[str]:
        """Human lines saying what counted between ``start`` and ``end``, and why.

        Ordinary weeks collapse into one line per run; holidays, make-up days and the
        partial first and last days get their own lines, so a 3-year span stays a few
        dozen lines long.
        """
        head = f"calendar {self.name!r} ({self.timezone}): "
        if self.always_open:
            lines = [head + "24x7, every second counts"]
        else:
            lines = [head + _weekly_summary(self._weekly) + self._holiday_summary()]
        if end <= start:
            lines.append(f"total: 0s (the span {self._clock(start)} .. {self._clock(end)} is empty)")
            return lines
        if not self.always_open:
            first = self._local(start).year
            last = self._local(end).year
            lines += [self._missing_message(y) for y in self.missing_years(first, last)]
            lines += self._explain_days(start, end)
        total = self.elapsed(start, end)
        lines.append(
            f"total: {_duration(total)} business time ({total:g} s) from {self._clock(start)} "
            f"to {self._clock(end)} {self.timezone}"
        )
        return lines

    def _holiday_summary(self) -> str:
        parts = []
        if self.preset is not None:
            years = self._preset_years
            parts.append(f"preset {self.preset!r} ({years.start}-{years.stop - 1})")
        n_off, n_on = self._n_explicit
        if n_off or n_on:
            parts.append(f"{n_off} explicit holiday(s), {n_on} explicit make-up day(s)")
        return "; holidays: " + (" + ".join(parts) if parts else "none")

    def _explain_days(self, start: float, end: float) -> list[str]:
        lo_day = self._local(start).date().toordinal()
        local_end = self._local(end)
        hi_day = local_end.date().toordinal()
        if local_end.time() == datetime.min.time() and hi_day > lo_day:
            hi_day -= 1  # a span ending at midnight has nothing of the next date
        segs = _offset_segments(self._tz, _wall_of_ordinal(lo_day) - 2 * _DAY, _wall_of_ordinal(hi_day) + 3 * _DAY)
        days = [self._explain_day(o, segs, start, end) for o in range(lo_day, hi_day + 1)]
        lines = _render_days(days)
        if len(lines) > _EXPLAIN_MAX_LINES:
            lines = _render_years(days)
        return lines

    def _explain_day(self, ordinal: int, segs: list[tuple[int, int, int]], start: float, end: float) -> _DayNote:
        d = date.fromordinal(ordinal)
        hours = self._hours(d)
        pieces = _day_pieces(ordinal, hours, segs)
        full = sum(e - s for s, e in pieces)
        inside = [(max(s, start), min(e, end)) for s, e in pieces if s < end and e > start]
        counted = sum(e - s for s, e in inside)
        if d in self._on:
            how = self._counted_text(inside, counted, full)
            text = f"make-up working day (调休上班) for {self._on[d]}, {_hours_text(hours)} — {how}"
            return _DayNote(d, "makeup", counted, True, text)
        if d in self._off:
            return _DayNote(d, "holiday", 0, bool(self._weekly[d.weekday()]), self._off[d])
        if counted != full or (full and not counted):  # a partial first or last day
            how = self._counted_text(inside, counted, full)
            return _DayNote(d, "partial", counted, True, f"working day {_hours_text(hours)} — {how}")
        return _DayNote(d, "regular", counted, full > 0, "")

    def _counted_text(self, inside: list[tuple[float, float]], counted: float, full: float) -> str:
        if counted == 0:
            return "none of it inside the span"
        if counted == full:
            return f"{_duration(counted)} counted"
        ranges = ", ".join(
            f"{self._clock(s, time_only=True)}-{self._clock(e, time_only=True, end=True)}" for s, e in inside
        )
        return f"counted {ranges} ({_duration(counted)})"

    def _local(self, t: float) -> datetime:
        return (_UTC_EPOCH + timedelta(seconds=t)).astimezone(self._tz)

    def _clock(self, t: float, *, time_only: bool = False, end: bool = False) -> str:
        local = self._local(t)
        text = local.strftime("%H:%M:%S" if local.second or local.microsecond else "%H:%M")
        if local.microsecond:
            text += f"{local.microsecond / 1e6:.3f}".rstrip("0")[1:]
        if end and time_only and text == "00:00":
            text = "24:00"  # the end of a day's hours, not the start of the next day
        return text if time_only else f"{local:%Y-%m-%d} {text}"

    # -- building the index ---------------------------------------------------------

    def _hours(self, d: date) -> Hours:
        """Working hours of local date ``d`` after holidays and make-up days."""
        if d in self._on:
            return self._weekly[d.weekday()] or self._standard
        if d in self._off:
            return ()
        return self._weekly[d.weekday()]

    def _cover(self, start: float, end: float) -> _Index:
        """An index complete for ``[start, end]``, loading the local years it needs."""
        lo = _year_of(self.name, start - _MARGIN)
        hi = _year_of(self.name, end + _MARGIN)
        idx = self._index
        if idx is not None and lo - _JOIN_YEARS <= idx.y_hi and hi + _JOIN_YEARS >= idx.y_lo:
            lo, hi = min(lo, idx.y_lo), max(hi, idx.y_hi)
        # Else the query lies far from the loaded years (a mistyped or bogus year in an
        # event, 2206 for 2026): an index of just its own years, not of every year in
        # between (centuries of them took a worker minutes). Built years stay cached in
        # _years, so going back costs a re-concatenation, not a rebuild.
        built = self._years
        if len(built) > _KEEP_BUILT_YEARS:  # scattered bogus years must not pile up
            for year in [y for y in built if not lo <= y <= hi]:
                del built[year]
        pieces: list[tuple[int, int]] = []
        for year in range(lo, hi + 1):
            year_pieces = built.get(year)
            if year_pieces is None:
                year_pieces = built[year] = self._build_year(year)
            pieces.extend(year_pieces)
        # Years are almost always already in order; a fall-back change at New Year's
        # midnight could interleave two years' intervals, which the sort fixes.
        pieces.sort()
        starts: list[int] = []
        ends: list[int] = []
        before: list[int] = []
        after: list[int] = []
        acc = 0
        for s, e in pieces:
            if ends and s <= ends[-1]:  # touching intervals (e.g. 24 h days): merge
                if e > ends[-1]:
                    acc += e - ends[-1]
                    ends[-1] = e
                    after[-1] = acc
                continue
            starts.append(s)
            ends.append(e)
            before.append(acc)
            acc += e - s
            after.append(acc)
        idx = _Index(lo, hi, _wall(lo) + _MARGIN, _wall(hi + 1) - _MARGIN, starts, ends, before, after)
        self._index = idx
        return idx

    def _build_year(self, year: int) -> list[tuple[int, int]]:
        first = date(year, 1, 1).toordinal()
        last = date(year + 1, 1, 1).toordinal()
        segs = _offset_segments(self._tz, _wall(year) - 2 * _DAY, _wall(year + 1) + 2 * _DAY)
        out: list[tuple[int, int]] = []
        for ordinal in range(first, last):
            hours = self._hours(date.fromordinal(ordinal))
            if hours:
                out.extend(_day_pieces(ordinal, hours, segs))
        return out


# -- helpers ----------------------------------------------------------------------------


def _zone_data_digest(key: str) -> str:
    """A digest of the zone's TZif data as ``zoneinfo`` finds it (system or ``tzdata``).

    A time-zone database update can move a zone's offsets (a new DST rule), and with
    them the instants of working hours. "" when the file cannot be found.
    """
    paths = [Path(root, key) for root in zoneinfo.TZPATH]
    try:
        found = next((p for p in paths if p.is_file()), None)
        data = found.read_bytes() if found else resources.files("tzdata.zoneinfo").joinpath(key).read_bytes()
    except (ModuleNotFoundError, OSError, ValueError):
        return ""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


#: Names the zone database carries that are not a place's time: "localtime" is the host's
#: own setting (the answers would change with the machine), "right/..." zones count leap
#: seconds that epoch seconds do not, "Factory" has no offset of its own.
_NOT_PLACE_ZONES = frozenset({"localtime", "posixrules", "Factory"})


def not_place_zone(key: object) -> bool:
    """Whether ``key`` is a zone file name that is not an IANA place (see ``_NOT_PLACE_ZONES``)."""
    return isinstance(key, str) and (key in _NOT_PLACE_ZONES or key.startswith("right/"))


def _zone(name: str, key: str) -> tzinfo:
    if not_place_zone(key):
        raise CalendarError(
            name, "timezone", f"{key!r} is not an IANA place name", "use one such as 'Asia/Shanghai' or 'UTC'"
        )
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise CalendarError(
            name, "timezone", f"unknown time zone {key!r}", "use an IANA name such as 'Asia/Shanghai' or 'UTC'"
        ) from exc


def _dates(name: str, what: str, values: Iterable[date]) -> frozenset[date]:
    out = set()
    for v in values:
        if not isinstance(v, date):
            raise CalendarError(name, what, f"{what} must be dates (YYYY-MM-DD), got {v!r}", "write YYYY-MM-DD")
        out.add(date(v.year, v.month, v.day))  # a datetime means its date
    return frozenset(out)


def _parse_clock(name: str, weekday: int, text: object) -> int:
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) in (2, 3) and all(p.isdigit() and len(p) <= 2 for p in parts):
        h, m, s = (int(p) for p in (*parts, "0")[:3])
        if m < 60 and s < 60 and (h < 24 or (h == 24 and m == s == 0)):
            return h * 3600 + m * 60 + s
    raise CalendarError(
        name, "hours", f"weekday {weekday} ({_WEEKDAYS[weekday]}): bad time {text!r}",
        "expected 'HH:MM' or 'HH:MM:SS' between 00:00 and 24:00",
    )  # fmt: skip


def _weekly_hours(name: str, weekly: Mapping[int, Sequence[tuple[str, str]]]) -> tuple[Hours, ...]:
    days: list[Hours] = [() for _ in range(7)]
    for weekday, ranges in weekly.items():
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday <= 6:
            raise CalendarError(
                name, "hours", f"weekly keys are weekdays 0 (Mon) .. 6 (Sun), got {weekday!r}", "use 0 .. 6"
            )
        spans: list[tuple[int, int]] = []
        for pair in ranges:
            if isinstance(pair, str) or len(pair) != 2:
                raise CalendarError(
                    name, "hours", f"weekday {weekday} ({_WEEKDAYS[weekday]}): each range is a pair, got {pair!r}",
                    "give it like ['09:00', '18:00']",
                )  # fmt: skip
            s, e = _parse_clock(name, weekday, pair[0]), _parse_clock(name, weekday, pair[1])
            if s >= e:
                raise CalendarError(
                    name, "hours", f"weekday {weekday} ({_WEEKDAYS[weekday]}): range {pair[0]}-{pair[1]} ends "
                    "before it starts", "a range cannot cross midnight, split it over two weekdays",
                )  # fmt: skip
            spans.append((s, e))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for s, e in spans:
            if merged and s < merged[-1][1]:
                raise CalendarError(
                    name, "hours", f"weekday {weekday} ({_WEEKDAYS[weekday]}): ranges overlap",
                    "list each working period once",
                )  # fmt: skip
            if merged and s == merged[-1][1]:
                merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        days[weekday] = tuple(merged)
    return tuple(days)


def _standard_day(weekly: tuple[Hours, ...]) -> Hours:
    counts = Counter(h for h in weekly if h)
    if not counts:
        return ()
    best = max(counts.values())
    return next(h for h in weekly if h and counts[h] == best)


def _wall(year: int) -> int:
    """Wall-clock seconds (local time read as if UTC) at 00:00 on 1 January ``year``."""
    return _wall_of_ordinal(date(year, 1, 1).toordinal())


def _wall_of_ordinal(ordinal: int) -> int:
    return (ordinal - _EPOCH_ORDINAL) * _DAY


def _year_of(name: str, t: float) -> int:
    if not math.isfinite(t):
        msg = f"calendar {name!r}: time {t!r} is not a finite epoch second"
        raise ValueError(msg)
    ordinal = math.floor(t / _DAY) + _EPOCH_ORDINAL
    year = date.fromordinal(ordinal).year if 0 < ordinal <= date.max.toordinal() else 0
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        msg = f"calendar {name!r}: epoch time {t!r} is outside the supported years {_MIN_YEAR}..{_MAX_YEAR}"
        raise ValueError(msg)
    return year


def _offset_at(tz: tzinfo, t: int) -> int:
    offset = (_UTC_EPOCH + timedelta(seconds=t)).astimezone(tz).utcoffset()
    return 0 if offset is None else offset // timedelta(seconds=1)


def _offset_segments(tz: tzinfo, lo: int, hi: int) -> list[tuple[int, int, int]]:
    """``(from, to, utc_offset)`` pieces of ``[lo, hi)`` over which the offset is constant.

    zoneinfo does not publish its transition list, so find the changes by sampling and
    bisecting to the exact second (transitions are whole seconds).
    """
    segs: list[tuple[int, int, int]] = []
    seg_start, current, t = lo, _offset_at(tz, lo), lo
    while t < hi:
        nxt = min(t + _OFFSET_SAMPLE, hi)
        while _offset_at(tz, nxt) != current:
            a, b = t, nxt  # offset(a) == current != offset(b)
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_at(tz, mid) == current:
                    a = mid
                else:
                    b = mid
            segs.append((seg_start, b, current))
            seg_start, current, t = b, _offset_at(tz, b), b
        t = nxt
    segs.append((seg_start, hi, current))
    return segs


def _day_pieces(ordinal: int, hours: Hours, segs: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """UTC intervals of the instants whose wall clock reads local date ``ordinal`` and a
    time inside ``hours``: within a constant-offset piece, wall = utc + offset."""
    base = _wall_of_ordinal(ordinal)
    out: list[tuple[int, int]] = []
    for s, e in hours:
        wall_s, wall_e = base + s, base + e
        for seg_lo, seg_hi, off in segs:
            lo = max(seg_lo, wall_s - off)
            hi = min(seg_hi, wall_e - off)
            if lo < hi:
                out.append((lo, hi))
    out.sort()
    return out


@dataclass(frozen=True, slots=True)
class _DayNote:
    """What one local date contributed to an explained span."""

    day: date
    kind: str  # regular | partial | holiday | makeup
    counted: float
    works: bool  # has working hours (for a holiday: would have had them)
    text: str  # holiday name, or the whole line for partial and make-up days


def _render_days(days: list[_DayNote]) -> list[str]:
    """One line per run of regular days or of one holiday; own lines for the rest."""
    lines: list[str] = []
    i = 0
    while i < len(days):
        note = days[i]
        j = i + 1
        if note.kind in ("regular", "holiday"):
            while j < len(days) and (days[j].kind, days[j].text) == (note.kind, note.text):
                j += 1
        run = days[i:j]
        span = _span(note.day, run[-1].day)
        worked = sum(1 for n in run if n.works)
        if note.kind == "regular":
            counted = sum(n.counted for n in run)
            what = f"{worked} working day(s) — {_duration(counted)} counted" if worked else "closed"
            lines.append(f"{span}: {what}")
        elif note.kind == "holiday":
            lines.append(f"{span}: holiday {note.text} — skipped ({worked} day(s) that would have had working hours)")
        else:
            lines.append(f"{span}: {note.text}")
        i = j
    return lines


def _render_years(days: list[_DayNote]) -> list[str]:
    """A long span: one summary line per local year, keeping partial first/last days."""
    lines: list[str] = []
    for year in sorted({n.day.year for n in days}):
        notes = [n for n in days if n.day.year == year]
        lines += [f"{_span(n.day, n.day)}: {n.text}" for n in notes if n.kind == "partial"]
        counted = sum(n.counted for n in notes)
        worked = sum(1 for n in notes if n.kind != "holiday" and n.counted)
        makeup = sum(1 for n in notes if n.kind == "makeup")
        skipped = Counter(n.text for n in notes if n.kind == "holiday")
        text = (
            f"{_span(notes[0].day, notes[-1].day)}: {_duration(counted)} counted on "
            f"{worked} working day(s), {makeup} of them make-up days (调休上班)"
        )
        if skipped:
            names = ", ".join(f"{name} {n}d" for name, n in skipped.items())
            text += f"; holidays skipped: {names}"
        lines.append(text)
    return lines


def _clock_text(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}" if s else f"{h:02d}:{m:02d}"


def _hours_text(hours: Hours) -> str:
    return ", ".join(f"{_clock_text(s)}-{_clock_text(e)}" for s, e in hours) or "closed"


def _weekly_summary(weekly: tuple[Hours, ...]) -> str:
    """``Mon-Fri 09:00-18:00; Sat 10:00-14:00``: consecutive weekdays with equal hours."""
    groups: list[tuple[int, int, Hours]] = []
    for wd, hours in enumerate(weekly):
        if groups and groups[-1][2] == hours and groups[-1][1] == wd - 1:
            groups[-1] = (groups[-1][0], wd, hours)
        else:
            groups.append((wd, wd, hours))
    parts = [
        (_WEEKDAYS[a] if a == b else f"{_WEEKDAYS[a]}-{_WEEKDAYS[b]}") + " " + _hours_text(h) for a, b, h in groups if h
    ]
    return "; ".join(parts)


def _span(first: date, last: date) -> str:
    one = f"{first:%Y-%m-%d} {_WEEKDAYS[first.weekday()]}"
    if first == last:
        return one
    days = last.toordinal() - first.toordinal() + 1
    return f"{one} .. {last:%Y-%m-%d} {_WEEKDAYS[last.weekday()]} ({days} days)"


def _duration(seconds: float) -> str:
    """``45h``, ``4h30m``, ``1m05s``: hours rather than days, as SLA targets are in hours."""
    whole = int(seconds)
    frac = seconds - whole
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    parts = [f"{h}h"] if h else []
    if m or (h and (s or frac)):
        parts.append(f"{m:02d}m" if parts else f"{m}m")
    if s or frac or not parts:
        text = f"{s + frac:.3f}".rstrip("0").rstrip(".")
        parts.append(("0" + text if parts and s + frac < 10 else text) + "s")
    return "".join(parts)
