"""Business calendars, one behaviour per test.

Dates are chosen from the real mainland China schedule (chinese-calendar 1.11): the
week of 2026-03-09 (Mon) .. 2026-03-16 has no holidays; National Day 2026 runs
Thu 2026-10-01 .. Wed 2026-10-07 with make-up Sundays/Saturdays 2026-09-20 and
2026-10-10; New Year 2026 is Thu 2026-01-01 .. Sat 2026-01-03 with make-up Sunday
2026-01-04.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from slawatch.sla.calendar import BusinessCalendar, CalendarError
from slawatch.sla.holidays import preset_holidays, preset_workdays, preset_years

SHANGHAI = "Asia/Shanghai"
HOUR = 3600
ALL_DAY = {d: [("00:00", "24:00")] for d in range(7)}
LUNCH_BREAK = {d: [("09:00", "12:00"), ("13:00", "18:00")] for d in range(5)}


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, tz: str = SHANGHAI) -> int:
    """Epoch seconds of a wall-clock time (first occurrence if the time repeats)."""
    return int(datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(tz)).timestamp())


def wall(t: float, tz: str = SHANGHAI) -> str:
    """Wall-clock reading of an instant, for readable assertions."""
    local = datetime.fromtimestamp(t, ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %a %H:%M:%S") + (
        f".{local.microsecond:06d}".rstrip("0") if local.microsecond else ""
    )


@pytest.fixture
def business() -> BusinessCalendar:
    """The default policy's business calendar: Mon-Fri 09:00-18:00 Shanghai, cn preset."""
    return BusinessCalendar("business", preset="cn")


# -- add / elapsed on an ordinary week ---------------------------------------------------


def test_friday_1700_plus_two_business_hours_is_monday_1000(business: BusinessCalendar) -> None:
    assert wall(business.add(at(2026, 3, 13, 17), 2 * HOUR)) == "2026-03-16 Mon 10:00:00"


def test_elapsed_from_friday_1700_to_monday_1000_is_two_hours(business: BusinessCalendar) -> None:
    assert business.elapsed(at(2026, 3, 13, 17), at(2026, 3, 16, 10)) == 2 * HOUR


def test_deadline_at_closing_time_stays_on_that_day(business: BusinessCalendar) -> None:
    # The earliest instant at which the hour has elapsed is 18:00, not Monday 09:00.
    assert wall(business.add(at(2026, 3, 13, 17), HOUR)) == "2026-03-13 Fri 18:00:00"


def test_adding_from_outside_hours_starts_counting_at_the_next_opening(
    business: BusinessCalendar,
) -> None:
    assert wall(business.add(at(2026, 3, 14, 11), 30 * 60)) == "2026-03-16 Mon 09:30:00"


def test_elapsed_over_a_weekend_only_is_zero(business: BusinessCalendar) -> None:
    assert business.elapsed(at(2026, 3, 14, 0), at(2026, 3, 16, 0)) == 0


def test_elapsed_is_zero_when_end_is_not_after_start(business: BusinessCalendar) -> None:
    t = at(2026, 3, 12, 10)
    assert business.elapsed(t, t) == 0
    assert business.elapsed(t + HOUR, t) == 0


def test_five_working_days_from_monday_morning_end_friday_evening(
    business: BusinessCalendar,
) -> None:
    deadline = business.add(at(2026, 3, 9, 9), 5 * business.working_day_seconds)
    assert wall(deadline) == "2026-03-13 Fri 18:00:00"


def test_integer_inputs_give_integer_results(business: BusinessCalendar) -> None:
    start = at(2026, 3, 13, 17)
    assert type(business.add(start, 2 * HOUR)) is int
    assert type(business.elapsed(start, start + 3 * 86400)) is int


# -- add edge cases ----------------------------------------------------------------------


def test_adding_zero_seconds_returns_the_start_even_outside_hours(
    business: BusinessCalendar,
) -> None:
    saturday = at(2026, 3, 14, 3)
    assert business.add(saturday, 0) == saturday


def test_adding_negative_seconds_returns_the_start(business: BusinessCalendar) -> None:
    t = at(2026, 3, 12, 10)
    assert business.add(t, -5) == t


def test_adding_fractional_seconds_keeps_the_fraction(business: BusinessCalendar) -> None:
    start = at(2026, 3, 13, 17, 59, 59) + 0.5
    assert wall(business.add(start, 1.0)) == "2026-03-16 Mon 09:00:00.5"


def test_fractions_that_add_up_to_a_working_days_end_land_on_it_not_on_the_next_morning(
    business: BusinessCalendar,
) -> None:
    # 1 us before Friday 18:00, plus 1 us and four working days: Thursday 18:00. In
    # floats the sum overshoots the day's end by a few 1e-8 s and landed on Friday 09:00
    # (independent oracle, round 11: a breach fired 15 hours late).
    start = at(2026, 3, 13, 17, 59, 59) + 0.999999
    assert wall(business.add(start, 4 * 9 * HOUR + 0.000001)) == "2026-03-19 Thu 18:00:00"


def test_elapsed_counts_fractional_seconds(business: BusinessCalendar) -> None:
    start = at(2026, 3, 13, 17, 59, 59) + 0.25
    assert business.elapsed(start, at(2026, 3, 16, 9) + 0.5) == pytest.approx(1.25)


def test_adding_nan_seconds_is_refused(business: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="NaN"):
        business.add(at(2026, 3, 12, 10), float("nan"))


# -- is_working_time --------------------------------------------------------------------


def test_opening_instant_is_working_time_and_closing_instant_is_not(
    business: BusinessCalendar,
) -> None:
    assert business.is_working_time(at(2026, 3, 12, 9))
    assert not business.is_working_time(at(2026, 3, 12, 18))


def test_a_saturday_is_not_working_time(business: BusinessCalendar) -> None:
    assert not business.is_working_time(at(2026, 3, 14, 10))


# -- the cn preset: holidays and make-up days (调休) ------------------------------------


def test_national_day_golden_week_2026_counts_nothing(business: BusinessCalendar) -> None:
    assert business.elapsed(at(2026, 10, 1), at(2026, 10, 8)) == 0


def test_national_day_make_up_saturday_2026_10_10_is_a_working_day(
    business: BusinessCalendar,
) -> None:
    assert business.elapsed(at(2026, 10, 10), at(2026, 10, 11)) == 9 * HOUR


def test_national_day_make_up_sunday_2026_09_20_is_a_working_day(
    business: BusinessCalendar,
) -> None:
    assert business.is_working_time(at(2026, 9, 20, 10))


def test_deadline_before_national_day_moves_past_the_golden_week(
    business: BusinessCalendar,
) -> None:
    assert wall(business.add(at(2026, 9, 30, 17), 2 * HOUR)) == "2026-10-08 Thu 10:00:00"


def test_business_time_from_before_to_after_national_day_2026(
    business: BusinessCalendar,
) -> None:
    # Wed 30 Sep + Thu 8 Oct + Fri 9 Oct + make-up Sat 10 Oct.
    assert business.elapsed(at(2026, 9, 30), at(2026, 10, 11)) == 4 * 9 * HOUR


def test_without_the_preset_national_day_weekdays_are_ordinary() -> None:
    plain = BusinessCalendar("plain")
    assert plain.elapsed(at(2026, 10, 1), at(2026, 10, 8)) == 5 * 9 * HOUR


def test_explicit_workday_beats_a_preset_holiday() -> None:
    cal = BusinessCalendar("b", preset="cn", workdays=[date(2026, 10, 5)])
    assert cal.elapsed(at(2026, 10, 5), at(2026, 10, 6)) == 9 * HOUR


def test_explicit_holiday_beats_a_preset_make_up_day() -> None:
    cal = BusinessCalendar("b", preset="cn", holidays=[date(2026, 10, 10)])
    assert cal.elapsed(at(2026, 10, 10), at(2026, 10, 11)) == 0


def test_explicit_holiday_closes_an_ordinary_weekday() -> None:
    cal = BusinessCalendar("b", holidays=[date(2026, 3, 12)])
    assert cal.elapsed(at(2026, 3, 12), at(2026, 3, 13)) == 0


def test_a_date_both_holiday_and_workday_is_refused() -> None:
    with pytest.raises(ValueError, match="both as holiday and as workday"):
        BusinessCalendar("b", holidays=[date(2026, 3, 12)], workdays=[date(2026, 3, 12)])


# -- lunch break ------------------------------------------------------------------------


def test_lunch_break_is_not_counted() -> None:
    cal = BusinessCalendar("lunch", weekly=LUNCH_BREAK)
    assert cal.elapsed(at(2026, 3, 12, 11), at(2026, 3, 12, 14)) == 2 * HOUR


def test_deadline_skips_the_lunch_break() -> None:
    cal = BusinessCalendar("lunch", weekly=LUNCH_BREAK)
    assert wall(cal.add(at(2026, 3, 12, 11), 2 * HOUR)) == "2026-03-12 Thu 14:00:00"


def test_lunch_time_is_not_working_time() -> None:
    cal = BusinessCalendar("lunch", weekly=LUNCH_BREAK)
    assert not cal.is_working_time(at(2026, 3, 12, 12, 30))


def test_working_day_of_a_lunch_break_calendar_is_eight_hours() -> None:
    assert BusinessCalendar("lunch", weekly=LUNCH_BREAK).working_day_seconds == 8 * HOUR


def test_make_up_saturday_works_the_standard_day_with_its_lunch_break() -> None:
    cal = BusinessCalendar("lunch", weekly=LUNCH_BREAK, workdays=[date(2026, 3, 14)])
    assert cal.elapsed(at(2026, 3, 14), at(2026, 3, 15)) == 8 * HOUR
    assert not cal.is_working_time(at(2026, 3, 14, 12, 30))


def test_adjacent_ranges_are_one_working_period() -> None:
    cal = BusinessCalendar("adj", weekly={0: [("09:00", "12:00"), ("12:00", "18:00")]})
    assert cal.elapsed(at(2026, 3, 9), at(2026, 3, 10)) == 9 * HOUR


def test_working_day_seconds_can_be_set_explicitly() -> None:
    assert BusinessCalendar("b", working_day_seconds=8 * HOUR).working_day_seconds == 8 * HOUR


def test_default_working_day_is_nine_hours(business: BusinessCalendar) -> None:
    assert business.working_day_seconds == 9 * HOUR


# -- daylight saving time: real seconds --------------------------------------------------

NEW_YORK = "America/New_York"  # 2026: spring forward Sun 8 Mar 02:00, fall back Sun 1 Nov 02:00
BERLIN = "Europe/Berlin"  # 2026: spring forward Sun 29 Mar 02:00, fall back Sun 25 Oct 03:00


def test_new_york_spring_forward_day_has_23_working_hours_around_the_clock() -> None:
    cal = BusinessCalendar("ny", NEW_YORK, weekly=ALL_DAY)
    assert cal.elapsed(at(2026, 3, 8, tz=NEW_YORK), at(2026, 3, 9, tz=NEW_YORK)) == 23 * HOUR


def test_new_york_fall_back_day_has_25_working_hours_around_the_clock() -> None:
    cal = BusinessCalendar("ny", NEW_YORK, weekly=ALL_DAY)
    assert cal.elapsed(at(2026, 11, 1, tz=NEW_YORK), at(2026, 11, 2, tz=NEW_YORK)) == 25 * HOUR


def test_hours_skipped_by_spring_forward_count_nothing() -> None:
    cal = BusinessCalendar("night", NEW_YORK, weekly={6: [("01:00", "04:00")]})
    sunday = (at(2026, 3, 8, tz=NEW_YORK), at(2026, 3, 9, tz=NEW_YORK))
    assert cal.elapsed(*sunday) == 2 * HOUR  # 02:00-03:00 never happened


def test_hours_repeated_by_fall_back_count_twice() -> None:
    cal = BusinessCalendar("night", NEW_YORK, weekly={6: [("00:00", "03:00")]})
    sunday = (at(2026, 11, 1, tz=NEW_YORK), at(2026, 11, 2, tz=NEW_YORK))
    assert cal.elapsed(*sunday) == 4 * HOUR  # 01:00-02:00 happened twice


def test_new_york_office_hours_over_the_spring_forward_weekend() -> None:
    cal = BusinessCalendar("ny", NEW_YORK)
    start = at(2026, 3, 6, 17, tz=NEW_YORK)  # Friday, EST
    assert wall(cal.add(start, 2 * HOUR), NEW_YORK) == "2026-03-09 Mon 10:00:00"  # EDT


def test_berlin_spring_forward_day_has_23_working_hours_around_the_clock() -> None:
    cal = BusinessCalendar("de", BERLIN, weekly=ALL_DAY)
    assert cal.elapsed(at(2026, 3, 29, tz=BERLIN), at(2026, 3, 30, tz=BERLIN)) == 23 * HOUR


def test_berlin_fall_back_day_has_25_working_hours_around_the_clock() -> None:
    cal = BusinessCalendar("de", BERLIN, weekly=ALL_DAY)
    assert cal.elapsed(at(2026, 10, 25, tz=BERLIN), at(2026, 10, 26, tz=BERLIN)) == 25 * HOUR


def test_berlin_24_hours_after_saturday_noon_is_sunday_1300_across_spring_forward() -> None:
    cal = BusinessCalendar("de", BERLIN, weekly=ALL_DAY)
    assert wall(cal.add(at(2026, 3, 28, 12, tz=BERLIN), 24 * HOUR), BERLIN) == ("2026-03-29 Sun 13:00:00")


def test_berlin_24_hours_after_saturday_noon_is_sunday_1100_across_fall_back() -> None:
    cal = BusinessCalendar("de", BERLIN, weekly=ALL_DAY)
    assert wall(cal.add(at(2026, 10, 24, 12, tz=BERLIN), 24 * HOUR), BERLIN) == ("2026-10-25 Sun 11:00:00")


# -- long spans -------------------------------------------------------------------------


def test_span_over_new_year_2026_skips_the_holiday_and_counts_the_make_up_sunday(
    business: BusinessCalendar,
) -> None:
    # Wed 31 Dec 17:00-18:00, make-up Sun 4 Jan, Mon 5 Jan 09:00-10:00.
    assert business.elapsed(at(2025, 12, 31, 17), at(2026, 1, 5, 10)) == 11 * HOUR


def test_deadline_over_new_year_2026_lands_on_the_make_up_sunday(
    business: BusinessCalendar,
) -> None:
    assert wall(business.add(at(2025, 12, 31, 17), 2 * HOUR)) == "2026-01-04 Sun 10:00:00"


def test_three_year_span_counts_every_chinese_working_day(business: BusinessCalendar) -> None:
    days = chinese_calendar.get_dates(date(2023, 1, 1), date(2025, 12, 31))
    expected = sum(9 * HOUR for d in days if chinese_calendar.is_workday(d))
    assert business.elapsed(at(2023, 1, 1), at(2026, 1, 1)) == expected


def test_three_years_of_business_time_ends_at_the_last_closing_time(
    business: BusinessCalendar,
) -> None:
    total = business.elapsed(at(2023, 1, 1), at(2026, 1, 1))
    assert wall(business.add(at(2023, 1, 1), total)) == "2025-12-31 Wed 18:00:00"


def test_results_do_not_depend_on_which_years_were_asked_first() -> None:
    fresh = BusinessCalendar("b", preset="cn")
    warmed = BusinessCalendar("b", preset="cn")
    warmed.elapsed(at(2030, 5, 1), at(2030, 6, 1))
    warmed.elapsed(at(2012, 5, 1), at(2012, 6, 1))
    span = (at(2011, 12, 30, 15), at(2031, 1, 2, 11))
    assert warmed.elapsed(*span) == fresh.elapsed(*span)


def test_adding_many_years_of_business_time_works() -> None:
    cal = BusinessCalendar("b")
    start = at(2026, 3, 9, 9)  # a Monday
    deadline = cal.add(start, 52 * 5 * 9 * HOUR * 10)  # ten 52-week years
    assert cal.elapsed(start, deadline) == 52 * 5 * 9 * HOUR * 10


# -- 24x7 -------------------------------------------------------------------------------


def test_twenty_four_seven_counts_every_second() -> None:
    cal = BusinessCalendar.twenty_four_seven()
    assert cal.elapsed(at(2026, 10, 1), at(2026, 10, 3)) == 2 * 86400


def test_twenty_four_seven_deadline_is_plain_addition() -> None:
    cal = BusinessCalendar.twenty_four_seven()
    assert cal.add(1_000, 1_800) == 2_800


def test_twenty_four_seven_is_always_working_time() -> None:
    assert BusinessCalendar.twenty_four_seven().is_working_time(at(2026, 10, 1, 3))


def test_twenty_four_seven_working_day_is_24_hours() -> None:
    assert BusinessCalendar.twenty_four_seven().working_day_seconds == 24 * HOUR


def test_twenty_four_seven_has_default_name_and_utc_zone() -> None:
    cal = BusinessCalendar.twenty_four_seven()
    assert (cal.name, cal.timezone, cal.always_open) == ("24x7", "UTC", True)


def test_twenty_four_seven_with_holidays_is_refused() -> None:
    with pytest.raises(ValueError, match="counts every second"):
        BusinessCalendar("x", always_open=True, holidays=[date(2026, 10, 1)])


# -- years the preset lacks: never silent ------------------------------------------------


def test_missing_years_are_the_years_outside_the_preset(business: BusinessCalendar) -> None:
    assert business.missing_years(2025, 2028) == [2027, 2028]


def test_an_explicit_date_in_a_year_makes_it_not_missing() -> None:
    cal = BusinessCalendar("b", preset="cn", holidays=[date(2027, 1, 1)])
    assert cal.missing_years(2026, 2028) == [2028]


def test_a_calendar_without_preset_lacks_no_year() -> None:
    assert BusinessCalendar("plain").missing_years(2000, 2100) == []


def test_warning_for_an_instant_in_a_year_the_preset_lacks(business: BusinessCalendar) -> None:
    assert business.warnings_for(at(2027, 3, 1)) == [
        "calendar 'business': holiday preset 'cn' has no data for 2027; using the policy's "
        "explicit list (none given) — add holidays/workdays for 2027 to the policy"
    ]


def test_no_warning_for_an_instant_in_a_covered_year(business: BusinessCalendar) -> None:
    assert business.warnings_for(at(2026, 3, 1)) == []


def test_warning_uses_the_local_year_not_the_utc_year(business: BusinessCalendar) -> None:
    # 2027-01-01 07:00 in Shanghai is still 2026 in UTC.
    assert business.warnings_for(at(2027, 1, 1, 7)) != []


def test_a_year_the_preset_lacks_is_counted_with_plain_weekdays_and_explicit_dates() -> None:
    cal = BusinessCalendar("b", preset="cn", holidays=[date(2027, 1, 1)])
    assert cal.elapsed(at(2027, 1, 1), at(2027, 1, 2)) == 0  # explicit
    assert cal.elapsed(at(2027, 2, 8), at(2027, 2, 9)) == 9 * HOUR  # unknown 2027 Spring Festival


def test_a_deadline_that_runs_into_a_year_the_preset_lacks_notes_that_year() -> None:
    cal = BusinessCalendar("b", preset="cn")
    deadline = cal.add(at(2026, 12, 30, 10), 45 * HOUR)  # 5 working days from 30 December
    assert wall(deadline).startswith("2027-01-")
    assert cal.years_without_data == {2027}


def test_time_counted_into_a_year_the_preset_lacks_notes_that_year() -> None:
    cal = BusinessCalendar("b", preset="cn")
    cal.elapsed(at(2026, 12, 31, 10), at(2027, 1, 4, 10))
    assert cal.years_without_data == {2027}


def test_counting_inside_the_presets_years_notes_nothing() -> None:
    cal = BusinessCalendar("b", preset="cn")
    cal.add(at(2026, 12, 21, 10), 45 * HOUR)
    cal.elapsed(at(2025, 12, 1), at(2026, 12, 1))
    assert cal.years_without_data == set()


def test_explicit_dates_for_the_next_year_count_as_its_data() -> None:
    cal = BusinessCalendar("b", preset="cn", holidays=[date(2027, 1, 1)])
    cal.add(at(2026, 12, 30, 10), 45 * HOUR)
    assert cal.years_without_data == set()


def test_only_the_years_reached_are_noted_not_those_loaded_ahead() -> None:
    cal = BusinessCalendar("b", preset="cn")
    cal.add(at(2026, 12, 30, 10), 67.5 * HOUR)  # level 2 at 1.5 x 5 working days
    assert cal.years_without_data == {2027}


# -- explain ----------------------------------------------------------------------------


def test_explain_names_the_golden_week_and_the_make_up_day(business: BusinessCalendar) -> None:
    text = "\n".join(business.explain(at(2026, 9, 30, 14), at(2026, 10, 12, 10, 30)))
    assert "2026-10-01 Thu .. 2026-10-07 Wed (7 days): holiday National Day (国庆节)" in text
    assert "2026-10-10 Sat: make-up working day (调休上班) for National Day (国庆节)" in text


def test_explain_shows_the_partial_first_and_last_days(business: BusinessCalendar) -> None:
    lines = business.explain(at(2026, 9, 30, 14), at(2026, 10, 12, 10, 30))
    assert "2026-09-30 Wed: working day 09:00-18:00 — counted 14:00-18:00 (4h)" in lines
    assert "2026-10-12 Mon: working day 09:00-18:00 — counted 09:00-10:30 (1h30m)" in lines


def test_explain_ends_with_the_same_total_as_elapsed(business: BusinessCalendar) -> None:
    start, end = at(2026, 9, 30, 14), at(2026, 10, 12, 10, 30)
    total = business.elapsed(start, end)  # 4h + 8-9 Oct 18h + make-up 10 Oct 9h + 1h30m
    assert business.explain(start, end)[-1].startswith(f"total: 32h30m business time ({total} s)")


def test_explain_of_three_years_stays_short(business: BusinessCalendar) -> None:
    assert len(business.explain(at(2023, 1, 1), at(2026, 1, 1))) < 10


def test_explain_warns_about_a_year_the_preset_lacks(business: BusinessCalendar) -> None:
    lines = business.explain(at(2026, 12, 30), at(2027, 1, 5))
    assert any("has no data for 2027" in line for line in lines)


def test_explain_of_an_empty_span_says_so(business: BusinessCalendar) -> None:
    assert business.explain(at(2026, 3, 9), at(2026, 3, 9))[-1].startswith("total: 0s")


# -- refusing bad calendars --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"preset": "xx"}, "unknown holiday preset"),
        ({"weekly": {0: [("9am", "18:00")]}}, "bad time"),
        ({"weekly": {0: [("18:00", "09:00")]}}, "ends before it starts"),
        ({"weekly": {0: [("09:00", "13:00"), ("12:00", "18:00")]}}, "overlap"),
        ({"weekly": {7: [("09:00", "18:00")]}}, "weekdays 0"),
        ({"weekly": {}}, "no working hours"),
        ({"working_day_seconds": 0}, "working_day_seconds"),
    ],
)
def test_a_calendar_that_would_give_wrong_answers_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar("bad", **kwargs)  # type: ignore[arg-type]


def test_times_outside_the_supported_years_are_refused(business: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="outside the supported years"):
        business.elapsed(0, 1e13)


# -- the cn preset data -------------------------------------------------------------------


def test_cn_preset_covers_2004_to_2026() -> None:
    assert preset_years("cn") == range(2004, 2027)


def test_cn_preset_names_holidays_in_english_and_chinese() -> None:
    assert preset_holidays("cn")[date(2026, 10, 1)] == "National Day (国庆节)"


def test_cn_preset_lists_the_national_day_make_up_saturday() -> None:
    assert date(2026, 10, 10) in preset_workdays("cn")


def test_unknown_preset_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown holiday preset"):
        preset_years("us")


def test_a_query_centuries_from_the_loaded_years_loads_only_its_own_years() -> None:
    """A mistyped year in an event (2206 for 2026) must not make the calendar build every
    year in between: that took a worker minutes for a few centuries."""
    cal = BusinessCalendar("business", "Asia/Shanghai")
    monday_2026 = datetime(2026, 11, 16, 9, tzinfo=ZoneInfo(SHANGHAI)).timestamp()
    monday_2206 = datetime(2206, 11, 16, 9, tzinfo=ZoneInfo(SHANGHAI)).timestamp()
    assert cal.elapsed(monday_2026, monday_2026 + 3600) == 3600
    far = cal.add(monday_2206, 3600)
    assert cal.elapsed(monday_2206, far) == 3600
    assert cal.elapsed(monday_2026, monday_2026 + 3600) == 3600  # back again: still right
    assert len(cal._years) <= 6  # the years around each query, none of the 180 between


@pytest.mark.parametrize("always_open", [False, True])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_instant_is_refused_also_once_the_calendar_has_answered(always_open: bool, bad: float) -> None:
    cal = BusinessCalendar.twenty_four_seven() if always_open else BusinessCalendar("b", "America/New_York")
    start = datetime(2026, 5, 28, 10, tzinfo=ZoneInfo("America/New_York")).timestamp()
    assert cal.elapsed(start, start + 3600) == 3600
    queries = [lambda: cal.add(bad, 60)]
    queries.append(lambda: cal.elapsed(start, bad) if bad > 0 else cal.elapsed(bad, start))
    if bad != bad:
        queries.append(lambda: cal.elapsed(bad, start))
    for query in queries:
        with pytest.raises(ValueError, match="not a finite epoch second"):
            query()


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory", "right/Asia/Shanghai"])
def test_a_zone_file_that_is_not_a_place_is_refused(zone: str) -> None:
    """The "localtime" file would make the answers depend on the host; "right/" zones count leap seconds."""
    with pytest.raises(CalendarError, match="not an IANA place name"):
        BusinessCalendar("b", zone)


def test_years_built_for_scattered_far_queries_do_not_pile_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from slawatch.sla import calendar

    monkeypatch.setattr(calendar, "_KEEP_BUILT_YEARS", 10)
    cal = BusinessCalendar("business", "Asia/Shanghai")
    for year in range(2100, 9000, 300):  # 23 years, each far from the others
        start = datetime(year, 3, 1, 9, tzinfo=ZoneInfo(SHANGHAI)).timestamp()
        assert cal.elapsed(start, cal.add(start, 3600)) == 3600
    assert len(cal._years) <= 10 + 3
