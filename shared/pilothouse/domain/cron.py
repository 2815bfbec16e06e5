"""Five-field cron expressions in a time zone, for scheduled scaling (pure).

``minute hour day-of-month month day-of-week``, each ``*``, a number, a range ``a-b``, a list
``a,b`` and steps ``*/n`` or ``a-b/n``; day-of-week 0-7 (0 and 7 are Sunday). As in cron, when both
day fields are restricted a day matching either one matches.

    >>> c = Cron.parse("30 9 * * 1-5")
    >>> from datetime import datetime
    >>> from zoneinfo import ZoneInfo
    >>> now = datetime(2026, 12, 5, 12, 0, tzinfo=ZoneInfo("Europe/Paris"))  # a Saturday
    >>> c.last_fire(now, "Europe/Paris").isoformat()
    '2026-12-04T09:30:00+01:00'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: how far back the last fire is looked for (a schedule that fired longer ago is not in force)
LOOKBACK_DAYS = 35

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


def _part(text: str, name: str, low: int, high: int) -> set[int]:
    out: set[int] = set()
    for piece in text.split(","):
        base, _, step_text = piece.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"{name}: a step must be at least 1")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = end = int(base)
            if step_text:
                end = high
        if not low <= start <= end <= high:
            raise ValueError(f"{name}: {piece!r} is outside {low}-{high}")
        out.update(range(start, end + 1, step))
    return out


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (ValueError if unknown)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool
    any_weekday: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        """ValueError naming the field that is wrong."""
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError("a cron expression has 5 fields: minute hour day-of-month month day-of-week")
        try:
            parts = [_part(f, name, lo, hi) for f, (name, lo, hi) in zip(fields, _FIELDS, strict=True)]
        except ValueError as exc:
            if "invalid literal" in str(exc):
                raise ValueError(f"not a cron expression: {expression!r}") from None
            raise
        weekdays = {d % 7 for d in parts[4]}
        return cls(
            frozenset(parts[0]),
            frozenset(parts[1]),
            frozenset(parts[2]),
            frozenset(parts[3]),
            frozenset(weekdays),
            any_day=fields[2] == "*",
            any_weekday=fields[4] == "*",
        )

    def _day_matches(self, moment: datetime) -> bool:
        if moment.month not in self.months:
            return False
        in_days = moment.day in self.days
        in_weekdays = (moment.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays

    def last_fire(self, now: datetime, tz: str) -> datetime | None:
        """The latest moment <= ``now`` the expression fired at in time zone ``tz`` (None within
        :data:`LOOKBACK_DAYS`)."""
        local = now.astimezone(zone(tz)).replace(second=0, microsecond=0)
        hour = local.replace(minute=0)
        for _ in range(LOOKBACK_DAYS * 24):
            if hour.hour in self.hours and self._day_matches(hour):
                for minute in sorted(self.minutes, reverse=True):
                    fire = hour.replace(minute=minute)
                    if fire <= local:
                        return fire
            hour = (hour - timedelta(hours=1)).astimezone(hour.tzinfo)
        return None
