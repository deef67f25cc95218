"""Holiday presets: public-holiday and make-up working-day (调休) lists by country.

A business calendar names a preset (``preset: cn``) instead of copying a country's
holiday schedule into every policy. The only preset today is ``cn``: mainland China's
statutory holidays (法定节假日) and the weekend days that become working days to pay
for them (调休上班), read from the ``chinese-calendar`` package. That package's data
ends with the last schedule the State Council (国务院办公厅) has published, usually near
the end of the year before, so a preset always *lacks* the future: callers must ask
:func:`preset_years` and never assume a year is covered.

Names come back bilingual (``"National Day (国庆节)"``) because they are shown to
people in ``slawatch policy explain`` output, which both ops staff and the service desk
read.
"""

from __future__ import annotations

from datetime import date
from functools import cache

__all__ = ["PRESETS", "preset_holidays", "preset_workdays", "preset_years"]

#: Names of the known presets, for error messages and policy validation.
PRESETS: tuple[str, ...] = ("cn",)


def _check(preset: str) -> None:
    if preset not in PRESETS:
        msg = (
            f"unknown holiday preset {preset!r}; expected one of {', '.join(PRESETS)} "
            "(or leave the preset out and list holidays/workdays explicitly)"
        )
        raise ValueError(msg)


def _cn_label(english: str) -> str:
    """Add the Chinese name the package knows for a holiday, e.g. 国庆节."""
    from chinese_calendar.constants import Holiday

    for holiday in Holiday:
        if holiday.value == english:
            return f"{english} ({holiday.chinese})"
    return english


@cache
def _cn_data() -> tuple[dict[date, str], dict[date, str]]:
    # Imported lazily: the package builds its tables at import, and only calendars that
    # use the preset should pay for that.
    from chinese_calendar.constants import holidays, workdays

    return (
        {d: _cn_label(name) for d, name in holidays.items()},
        {d: _cn_label(name) for d, name in workdays.items()},
    )


def preset_holidays(preset: str) -> dict[date, str]:
    """Days off of the preset (including weekend days inside a holiday run), with names.

    Returns a fresh dict so that callers may keep or change it.
    """
    _check(preset)
    return dict(_cn_data()[0])


def preset_workdays(preset: str) -> dict[date, str]:
    """Make-up working days (调休上班, usually weekend days) of the preset, with names.

    The name is the holiday the make-up day pays for.
    """
    _check(preset)
    return dict(_cn_data()[1])


@cache
def preset_years(preset: str) -> range:
    """The years the preset has a published schedule for (``range(first, last + 1)``).

    Derived from the data itself rather than hard-coded, so that upgrading
    ``chinese-calendar`` extends the range without a code change.
    """
    _check(preset)
    holidays, workdays = _cn_data()
    years = {d.year for d in holidays} | {d.year for d in workdays}
    return range(min(years), max(years) + 1)
