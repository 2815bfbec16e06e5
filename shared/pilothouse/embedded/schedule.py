"""EventBridge schedule expressions: ``rate(...)`` and ``cron(...)``, parsed and stepped through time.

    >>> from datetime import UTC, datetime
    >>> at = datetime(2024, 3, 1, 9, 30, tzinfo=UTC).timestamp()
    >>> nxt = parse_schedule("cron(0 18 ? * MON-FRI *)").next_after(at)
    >>> datetime.fromtimestamp(nxt, UTC).isoformat()
    '2024-03-01T18:00:00+00:00'

Rates: ``rate(1 minute)``, ``rate(5 minutes)``, ``rate(2 hours)``, ``rate(1 day)``: a positive
integer, the unit singular for 1 and plural otherwise (as EventBridge insists). A rate fires every
interval counted from an *anchor* (the scheduler's start), the first fire one interval after it.

Cron, always UTC: ``cron(Minutes Hours Day-of-month Month Day-of-week Year)``.

=============  ================  ===================
Field          Values            Wildcards
=============  ================  ===================
Minutes        0-59              , - * /
Hours          0-23              , - * /
Day-of-month   1-31              , - * ? / L W
Month          1-12 or JAN-DEC   , - * /
Day-of-week    1-7 or SUN-SAT    , - * ? L #
Year           1970-2199         , - * /
=============  ================  ===================

* ``?`` must be used in exactly one of Day-of-month and Day-of-week.
* ``a/n`` and ``*/n`` step from ``a`` (or the field's first value) to the field's end; ``a-b/n``
  within a range. A range whose start is after its end wraps around (``FRI-MON``, ``22-2``).
* Day-of-month ``L`` is the month's last day, ``LW`` its last weekday, ``15W`` the weekday
  nearest the 15th within the same month. Day-of-week ``L`` alone is Saturday (the week's last
  day), ``5L`` the month's last Thursday, ``3#2`` its second Tuesday. These forms stand alone
  in their field (no lists), and a ``#`` field holds a single expression.
* Days that a month lacks (``31`` in April, ``5#5`` in most months) are simply skipped.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

MIN_YEAR, MAX_YEAR = 1970, 2199

_MONTHS = {
    name: i
    for i, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], start=1
    )
}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], start=1)}


class ScheduleError(ValueError):
    """A schedule expression that EventBridge would refuse; the message says what is wrong."""


class Schedule(Protocol):
    expression: str

    def next_after(self, ts: float) -> float | None:
        """The first fire time strictly after ``ts`` (seconds since the epoch), or None if none."""
        ...


# -- rate ------------------------------------------------------------------------------------------

_RATE = re.compile(r"rate\(\s*(?P<value>\S+)\s+(?P<unit>\S+)\s*\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class RateSchedule:
    """Fires at ``anchor + k * seconds`` for k = 1, 2, ..."""

    expression: str
    seconds: float
    anchor: float = 0.0

    def anchored(self, anchor: float) -> RateSchedule:
        """The same rate counted from ``anchor`` (e.g. the time the scheduler started)."""
        return replace(self, anchor=anchor)

    def scaled(self, scale: float) -> RateSchedule:
        """The same rate with its interval divided by ``scale`` (see :func:`scaled`)."""
        return replace(self, seconds=self.seconds / scale)

    def next_after(self, ts: float) -> float:
        k = max(1, math.floor((ts - self.anchor) / self.seconds) + 1)
        return self.anchor + k * self.seconds


def _parse_rate(expression: str, body: re.Match[str], anchor: float) -> RateSchedule:
    raw_value, unit = body["value"], body["unit"]
    if not raw_value.isdigit() or int(raw_value) <= 0:
        raise ScheduleError(f"{expression!r}: the rate value must be a positive integer, got {raw_value!r}")
    value = int(raw_value)
    singular = unit[:-1] if unit.endswith("s") else unit
    if singular not in _UNIT_SECONDS:
        raise ScheduleError(f"{expression!r}: unknown rate unit {unit!r} (use minute(s), hour(s) or day(s))")
    if value == 1 and unit != singular:
        raise ScheduleError(f"{expression!r}: a rate of 1 takes the singular unit {singular!r}")
    if value > 1 and unit == singular:
        raise ScheduleError(f"{expression!r}: a rate of {value} takes the plural unit {singular + 's'!r}")
    return RateSchedule(expression, value * _UNIT_SECONDS[singular], anchor)


# -- cron ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: dict[str, int] | None = None
    step_allowed: bool = True


_MINUTES = _Field("Minutes", 0, 59)
_HOURS = _Field("Hours", 0, 23)
_DOM = _Field("Day-of-month", 1, 31)
_MONTH = _Field("Month", 1, 12, _MONTHS)
_DOW = _Field("Day-of-week", 1, 7, _DAYS, step_allowed=False)
_YEAR = _Field("Year", MIN_YEAR, MAX_YEAR)


def _value(field: _Field, text: str, expression: str) -> int:
    upper = text.upper()
    if field.names and upper in field.names:
        return field.names[upper]
    if not text.isdigit():
        by_name = field.names or {}
        names = (
            f" or {min(by_name, key=by_name.__getitem__)}-{max(by_name, key=by_name.__getitem__)}"
            if by_name
            else ""
        )
        raise ScheduleError(
            f"{expression!r}: {field.name} value {text!r} is not a number in {field.low}-{field.high}{names}"
        )
    value = int(text)
    if not field.low <= value <= field.high:
        raise ScheduleError(
            f"{expression!r}: {field.name} value {value} is out of range {field.low}-{field.high}"
        )
    return value


def _span(field: _Field, start: int, end: int) -> list[int]:
    """Values from start to end inclusive, wrapping past the field's high end if start > end."""
    if start <= end:
        return list(range(start, end + 1))
    return list(range(start, field.high + 1)) + list(range(field.low, end + 1))


def _values(field: _Field, text: str, expression: str) -> frozenset[int]:
    """A field made of ``,`` ``-`` ``*`` ``/`` only."""
    result: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{expression!r}: {field.name} has an empty list item in {text!r}")
        base, slash, step_text = item.partition("/")
        if slash:
            if not field.step_allowed:
                raise ScheduleError(f"{expression!r}: {field.name} does not allow '/' ({item!r})")
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(
                    f"{expression!r}: {field.name} increment in {item!r} must be a positive integer"
                )
        step = int(step_text) if slash else 1
        if base == "*":
            values = _span(field, field.low, field.high)
        elif "-" in base:
            first, _, last = base.partition("-")
            values = _span(field, _value(field, first, expression), _value(field, last, expression))
        else:
            start = _value(field, base, expression)
            values = _span(field, start, field.high) if slash else [start]
        result.update(values[::step])
    return frozenset(result)


def _reject_specials(field: _Field, text: str, expression: str, specials: str) -> None:
    """Raise if ``text`` (once month or day names are taken out) holds one of ``specials``."""
    names = field.names or {}
    bare = re.sub(r"[A-Za-z]{3}", lambda m: "" if m[0].upper() in names else m[0], text)
    for char in specials:
        if char in bare.upper():
            raise ScheduleError(f"{expression!r}: {field.name} does not allow {char!r} ({text!r})")


_DOM_WEEKDAY = re.compile(r"(\d+)W")
_DOW_LAST = re.compile(r"(\w+?)L")
_DOW_NTH = re.compile(r"(\w+)#(\w+)")


@dataclass(frozen=True)
class CronSchedule:
    """A parsed ``cron(...)`` expression (UTC, minute resolution)."""

    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    months: frozenset[int]
    years: frozenset[int]
    # Day-of-month: ("any",) | ("set", days) | ("last",) | ("last_weekday",) | ("weekday", n)
    dom: tuple
    # Day-of-week: ("any",) | ("set", days) | ("last", dow) | ("nth", dow, n)
    dow: tuple

    def anchored(self, anchor: float) -> CronSchedule:
        """Cron schedules do not depend on an anchor; here for symmetry with :class:`RateSchedule`."""
        return self

    def scaled(self, scale: float) -> CronSchedule:
        """Cron schedules name wall-clock times: a time scale leaves them as they are."""
        return self

    def _days(self, year: int, month: int) -> list[int]:
        """The days of ``month`` on which the schedule fires, ascending."""
        length = calendar.monthrange(year, month)[1]

        def cron_dow(day: int) -> int:  # 1 = Sunday ... 7 = Saturday
            return (calendar.weekday(year, month, day) + 1) % 7 + 1

        days = set(range(1, length + 1))
        kind = self.dom[0]
        if kind == "set":
            days &= self.dom[1]
        elif kind == "last":
            days = {length}
        elif kind == "last_weekday":
            day = length
            while cron_dow(day) in (1, 7):
                day -= 1
            days = {day}
        elif kind == "weekday":
            target = self.dom[1]
            if target > length:
                return []
            day = target
            if cron_dow(target) == 7:  # Saturday: the Friday before, or Monday the 3rd
                day = target - 1 if target > 1 else target + 2
            elif cron_dow(target) == 1:  # Sunday: the Monday after, or the Friday before at month end
                day = target + 1 if target < length else target - 2
            days = {day}

        kind = self.dow[0]
        if kind == "set":
            days = {d for d in days if cron_dow(d) in self.dow[1]}
        elif kind == "last":
            last = max(d for d in range(length - 6, length + 1) if cron_dow(d) == self.dow[1])
            days &= {last}
        elif kind == "nth":
            matching = [d for d in range(1, length + 1) if cron_dow(d) == self.dow[1]]
            n = self.dow[2]
            days &= {matching[n - 1]} if n <= len(matching) else set()
        return sorted(days)

    def next_after(self, ts: float) -> float | None:
        start_ts = (math.floor(ts / 60) + 1) * 60
        if start_ts > datetime(MAX_YEAR, 12, 31, 23, 59, tzinfo=UTC).timestamp():
            return None
        start = datetime.fromtimestamp(start_ts, UTC)
        for year in sorted(y for y in self.years if y >= start.year):
            same_year = year == start.year
            for month in sorted(self.months):
                if same_year and month < start.month:
                    continue
                same_month = same_year and month == start.month
                for day in self._days(year, month):
                    if same_month and day < start.day:
                        continue
                    same_day = same_month and day == start.day
                    for hour in sorted(self.hours):
                        if same_day and hour < start.hour:
                            continue
                        same_hour = same_day and hour == start.hour
                        for minute in sorted(self.minutes):
                            if same_hour and minute < start.minute:
                                continue
                            return float(calendar.timegm((year, month, day, hour, minute, 0)))
        return None


def _parse_dom(text: str, expression: str) -> tuple:
    upper = text.upper()
    if upper == "?":
        return ("any",)
    if upper == "L":
        return ("last",)
    if upper == "LW":
        return ("last_weekday",)
    if match := _DOM_WEEKDAY.fullmatch(upper):
        return ("weekday", _value(_DOM, match[1], expression))
    if "L" in upper or "W" in upper:
        raise ScheduleError(
            f"{expression!r}: Day-of-month {text!r}: L, LW and nW (e.g. 15W) must stand alone in the field"
        )
    _reject_specials(_DOM, text, expression, "#?")
    return ("set", _values(_DOM, text, expression))


def _parse_dow(text: str, expression: str) -> tuple:
    upper = text.upper()
    if upper == "?":
        return ("any",)
    if upper == "L":  # the last day of the week: every Saturday
        return ("set", frozenset({7}))
    if "#" in upper:
        if "," in upper:
            raise ScheduleError(
                f"{expression!r}: Day-of-week {text!r}: a field with '#' holds a single expression"
            )
        match = _DOW_NTH.fullmatch(upper)
        if not match:
            raise ScheduleError(f"{expression!r}: Day-of-week {text!r} is not of the form day#n (e.g. 3#2)")
        if not match[2].isdigit() or not 1 <= int(match[2]) <= 5:
            raise ScheduleError(f"{expression!r}: Day-of-week {text!r}: n in day#n must be 1-5")
        return ("nth", _value(_DOW, match[1], expression), int(match[2]))
    if upper.endswith("L"):
        match = _DOW_LAST.fullmatch(upper)
        if not match or "," in upper or "-" in upper:
            raise ScheduleError(
                f"{expression!r}: Day-of-week {text!r}: 'L' stands alone or follows one day (e.g. 5L)"
            )
        return ("last", _value(_DOW, match[1], expression))
    _reject_specials(_DOW, text, expression, "LW?")
    return ("set", _values(_DOW, text, expression))


def _parse_cron(expression: str, inner: str) -> CronSchedule:
    fields = inner.split()
    if len(fields) != 6:
        raise ScheduleError(
            f"{expression!r}: a cron expression has 6 fields "
            f"(Minutes Hours Day-of-month Month Day-of-week Year), got {len(fields)}"
        )
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(
            f"{expression!r}: use '?' in exactly one of Day-of-month ({dom!r}) and Day-of-week ({dow!r})"
        )
    for field, text in ((_MINUTES, minutes), (_HOURS, hours), (_MONTH, month), (_YEAR, year)):
        _reject_specials(field, text, expression, "?LW#")
    return CronSchedule(
        expression=expression,
        minutes=_values(_MINUTES, minutes, expression),
        hours=_values(_HOURS, hours, expression),
        months=_values(_MONTH, month, expression),
        years=_values(_YEAR, year, expression),
        dom=_parse_dom(dom, expression),
        dow=_parse_dow(dow, expression),
    )


_CRON = re.compile(r"cron\((?P<inner>.*)\)", re.DOTALL)


def parse_schedule(expression: str, *, anchor: float = 0.0) -> RateSchedule | CronSchedule:
    """Parse an EventBridge schedule expression; raises :class:`ScheduleError` if it is not valid.

    ``anchor`` is where a rate counts its intervals from (ignored by cron expressions).
    """
    if not isinstance(expression, str):
        raise ScheduleError(f"a schedule expression must be a string, got {type(expression).__name__}")
    text = expression.strip()
    if match := _RATE.fullmatch(text):
        return _parse_rate(expression, match, anchor)
    if match := _CRON.fullmatch(text):
        return _parse_cron(expression, match["inner"])
    if text.startswith("rate("):
        raise ScheduleError(
            f"{expression!r}: a rate expression reads rate(<value> <unit>), e.g. rate(5 minutes)"
        )
    raise ScheduleError(f"{expression!r}: a schedule expression is rate(...) or cron(...)")


def scaled(schedule: RateSchedule | CronSchedule, scale: float) -> RateSchedule | CronSchedule:
    """``schedule`` on a faster time scale: a rate fires ``scale`` times as often (``rate(1 minute)``
    every 6 s at scale 10); a cron expression names wall-clock times and is left as it is.

    The embedded scheduler applies the ``schedule_scale`` setting (``PILOTHOUSE_SCHEDULE_SCALE``,
    default 1) this way, so tests of the minute sweeps need not wait real minutes.
    """
    if not scale > 0:
        raise ValueError(f"a schedule scale must be positive, got {scale!r}")
    return schedule if scale == 1 else schedule.scaled(scale)
