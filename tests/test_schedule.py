"""Application Auto Scaling cron expressions: what the spec rules accept and when they fire."""

from __future__ import annotations

from datetime import date

import pytest

from codemate_tfgen.spec import schedule


def days(expression: str, year: int = 2025, month: int | None = None) -> list[date]:
    cron = schedule.parse(expression)
    found, day = [], date(year, month or 1, 1)
    while day.year == year and (month is None or day.month == month):
        if cron.day(day):
            found.append(day)
        day = date.fromordinal(day.toordinal() + 1)
    return found


def test_weekday_names_numbers_and_ranges_agree():
    # Day-of-week 1 is Sunday: 2-6 is MON-FRI.
    assert days("0 22 ? * MON-FRI *", month=1) == days("0 22 ? * 2-6 *", month=1)
    assert [d.isoweekday() for d in days("0 22 ? * SAT,SUN *", month=3)] == [6, 7] * 5


def test_steps_lists_and_wildcards():
    cron = schedule.parse("0/15 8-10,20 * * ? *")
    assert sorted(cron.minutes) == [0, 15, 30, 45]
    assert sorted(cron.hours) == [8, 9, 10, 20]
    assert len(days("0 0 */10 * ? *", month=1)) == 4  # the 1st, 11th, 21st, 31st


def test_last_nearest_and_nth():
    assert days("0 0 L * ? *", month=2) == [date(2025, 2, 28)]
    # 2025-03-01 is a Saturday: 1W is Monday the 3rd (W stays in the month).
    assert days("0 0 1W * ? *", month=3) == [date(2025, 3, 3)]
    assert days("0 0 LW * ? *", month=8) == [date(2025, 8, 29)]
    assert days("0 0 ? * 6L *", month=10) == [date(2025, 10, 31)]
    assert days("0 0 ? * MON#2 *", month=12) == [date(2025, 12, 8)]
    assert days("0 0 1 JAN ? 2026") == []


@pytest.mark.parametrize("expression, message", [
    ("0 22 * * MON-FRI *", "one of day-of-month and day-of-week must be ?"),
    ("0 22 ? * ? *", "one of day-of-month and day-of-week must be ?"),
    ("0 22 ? * MON-FRI", "needs 6 fields"),
    ("60 22 ? * * *", "minutes: 60 is outside 0-59"),
    ("0 24 ? * * *", "hours: 24 is outside 0-23"),
    ("0 0 ? * FUN *", "day-of-week: 'FUN' is not a number or one of SUN-SAT"),
    ("0 0 5-1 * ? *", "range 5-1 runs backwards"),
    ("0/0 0 ? * * *", "step '0' must be a positive number"),
    ("0 0 1L * ? *", "L, LW and nW stand alone"),
    ("0 0 ? * 2#1,3 *", "nL and n#k stand alone"),
])
def test_refused_with_the_reason(expression, message):
    with pytest.raises(schedule.CronError, match=message.replace("?", r"\?")):
        schedule.parse(expression)


def test_firings_are_in_utc_at_the_local_time():
    firings = list(schedule.firings(schedule.parse("0 22 ? * MON-FRI *"), "Asia/Seoul", 2025))
    assert len(firings) == 261  # the weekdays of 2025
    assert {(f.hour, f.minute) for f in firings} == {(13, 0)}  # 22:00 KST is 13:00 UTC
    assert "Asia/Seoul" in schedule.time_zones() and "Asia/Seol" not in schedule.time_zones()
