"""Application Auto Scaling's cron expressions: parsed for the spec rules, run over a year for cost.

The format is AWS's six fields, minutes hours day-of-month month day-of-week year, with the
wildcards of "Schedule recurring scaling actions using cron expressions" (Application Auto Scaling
user guide): `*` and `,` `-` `/` everywhere; `?` in day-of-month or day-of-week, one of which must
be `?`; `L` and `W` in day-of-month; `L` and `#` in day-of-week. Months and weekdays may be named
(JAN-DEC, SUN-SAT); day-of-week 1 is Sunday.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
_RANGES = {"minutes": (0, 59), "hours": (0, 23), "day-of-month": (1, 31), "month": (1, 12),
           "day-of-week": (1, 7), "year": (1970, 2199)}
_NAMES = {"month": MONTHS, "day-of-week": WEEKDAYS}


class CronError(ValueError):
    """What is wrong with an expression, in words for the spec's error line."""


DayTest = Callable[[date], bool]


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    day: DayTest  # day-of-month, month, day-of-week and year together

    def times(self, day: date) -> Iterator[tuple[int, int]]:
        """(hour, minute) of every firing on that local date."""
        if self.day(day):
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    yield hour, minute


def parse(expression: str) -> Cron:
    fields = expression.split()
    if len(fields) != len(FIELDS):
        raise CronError(f"needs {len(FIELDS)} fields ({' '.join(FIELDS)}), not {len(fields)}")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise CronError("one of day-of-month and day-of-week must be ?, and only one")
    minute_set = _values("minutes", minutes)
    hour_set = _values("hours", hours)
    months = _values("month", month)
    years = _values("year", year)
    day_of_month = _day_of_month(dom)
    day_of_week = _day_of_week(dow)

    def day(value: date) -> bool:
        return (value.year in years and value.month in months and day_of_month(value)
                and day_of_week(value))

    return Cron(minute_set, hour_set, day)


def _number(field: str, text: str) -> int:
    names = _NAMES.get(field, ())
    if text.upper() in names:
        return names.index(text.upper()) + 1
    if not text.isdigit():
        raise CronError(f"{field}: {text!r} is not a number" + (f" or one of {names[0]}-{names[-1]}" if names else ""))
    low, high = _RANGES[field]
    value = int(text)
    if not low <= value <= high:
        raise CronError(f"{field}: {value} is outside {low}-{high}")
    return value


def _values(field: str, text: str) -> frozenset[int]:
    """The values of a field made of *, numbers, names, ranges, steps and lists."""
    low, high = _RANGES[field]
    found: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field}: step {step_text!r} must be a positive number")
            step = int(step_text)
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _number(field, first), _number(field, last)
            if start > end:
                raise CronError(f"{field}: range {span} runs backwards")
        else:
            start = _number(field, span)
            end = high if step_text else start
        found.update(range(start, end + 1, step))
    return frozenset(found)


def _day_of_month(text: str) -> DayTest:
    if text == "?":
        return lambda day: True
    if text == "L":
        return lambda day: day.day == _last_day(day)
    if text == "LW":
        return lambda day: day == _nearest_weekday(day.replace(day=_last_day(day)))
    if match := re.fullmatch(r"(\d{1,2})W", text):
        target = _number("day-of-month", match.group(1))
        return lambda day: target <= _last_day(day) and day == _nearest_weekday(day.replace(day=target))
    if any(mark in text for mark in "LW#"):
        raise CronError(f"day-of-month: {text!r}: L, LW and nW stand alone")
    days = _values("day-of-month", text)
    return lambda day: day.day in days


def _day_of_week(text: str) -> DayTest:
    if text == "?":
        return lambda day: True
    if match := re.fullmatch(r"([A-Za-z]{3}|\d)L", text):
        weekday = _number("day-of-week", match.group(1))
        return lambda day: _weekday(day) == weekday and day.day + 7 > _last_day(day)
    if match := re.fullmatch(r"([A-Za-z]{3}|\d)#([1-5])", text):
        weekday, nth = _number("day-of-week", match.group(1)), int(match.group(2))
        return lambda day: _weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    if text == "L":
        return lambda day: _weekday(day) == 7
    if any(mark in text for mark in "L#"):
        raise CronError(f"day-of-week: {text!r}: nL and n#k stand alone")
    weekdays = _values("day-of-week", text)
    return lambda day: _weekday(day) in weekdays


def _weekday(day: date) -> int:
    """AWS's day-of-week: 1 is Sunday."""
    return (day.weekday() + 1) % 7 + 1


def _last_day(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(day: date) -> date:
    """The weekday nearest to a date within its month (cron's W)."""
    if day.weekday() < 5:
        return day
    step = -1 if day.weekday() == 5 else 1
    moved = day + timedelta(days=step)
    if moved.month != day.month:
        moved = day + timedelta(days=-2 * step)
    return moved


@cache
def time_zones() -> frozenset[str]:
    """The IANA zones this machine knows: the system's database, else the tzdata package."""
    return frozenset(available_timezones())


def firings(cron: Cron, zone: str, year: int) -> Iterator[datetime]:
    """Every firing of the expression in a calendar year of its time zone, in UTC."""
    tz = ZoneInfo(zone)
    day = date(year, 1, 1)
    while day.year == year:
        for hour, minute in cron.times(day):
            yield datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz).astimezone(UTC)
        day += timedelta(days=1)
