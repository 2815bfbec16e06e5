"""EventBridge schedule expressions (``rate(...)``, ``cron(...)``, as template.yaml spells them)
in the other clouds' spellings: Azure Functions' NCRONTAB (six fields, seconds first) and the
five-field unix cron of Google Cloud Scheduler. Always UTC.

    >>> ncrontab("rate(1 minute)"), unix_cron("rate(1 minute)")
    ('0 */1 * * * *', '*/1 * * * *')
    >>> ncrontab("cron(0 18 ? * MON-FRI *)"), unix_cron("cron(15 3 * * ? *)")
    ('0 0 18 * * MON-FRI', '15 3 * * *')

Only what both targets can say exactly is converted: a rate that divides its next unit (minutes
of an hour, hours of a day; days: 1), a cron without a year restriction and without the ``L``,
``W`` and ``#`` forms. Anything else raises :class:`ValueError` naming the expression, so a new
schedule that cannot be carried over fails ``make infra``'s tests instead of firing at other times.
"""

from __future__ import annotations

import re

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.+)\)$")
_DOW_NUMBER = re.compile(r"\d+")


def _fields(expression: str) -> tuple[str, str, str, str, str]:
    """The five unix-cron fields (minute hour day month day-of-week) of ``expression``."""
    rate = _RATE.match(expression.strip())
    if rate:
        n, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        if n < 1:
            raise ValueError(f"{expression!r}: a rate must be positive")
        if unit == "minute" and 60 % n == 0:
            return f"*/{n}", "*", "*", "*", "*"
        if unit == "hour" and 24 % n == 0:
            return "0", f"*/{n}", "*", "*", "*"
        if unit == "day" and n == 1:
            return "0", "0", "*", "*", "*"
        raise ValueError(f"{expression!r}: only rates that divide an hour or a day convert to cron exactly")
    cron = _CRON.match(expression.strip())
    if not cron:
        raise ValueError(f"{expression!r} is neither rate(...) nor cron(...)")
    parts = cron.group(1).split()
    if len(parts) != 6:
        raise ValueError(f"{expression!r}: cron(...) takes six fields")
    minute, hour, dom, month, dow, year = parts
    if year not in ("*", "?"):
        raise ValueError(f"{expression!r}: a year restriction has no equivalent outside EventBridge")
    if any(mark in field for field in (dom, dow) for mark in ("L", "W", "#")):
        raise ValueError(f"{expression!r}: the L, W and # forms have no equivalent outside EventBridge")
    dom = "*" if dom == "?" else dom
    # EventBridge numbers the days of the week 1-7 from Sunday; cron and NCRONTAB 0-6
    dow = "*" if dow == "?" else _DOW_NUMBER.sub(lambda m: str(int(m.group()) - 1), dow)
    return minute, hour, dom, month, dow


def ncrontab(expression: str) -> str:
    """Azure Functions' timer-trigger schedule (``{second} {minute} {hour} {day} {month} {dow}``)."""
    return " ".join(("0", *_fields(expression)))


def unix_cron(expression: str) -> str:
    """Google Cloud Scheduler's schedule (``{minute} {hour} {day} {month} {dow}``, time zone UTC)."""
    return " ".join(_fields(expression))
