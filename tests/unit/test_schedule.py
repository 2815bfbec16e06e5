"""EventBridge schedule expressions: parsing, validation and exact next fire times (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pilothouse.embedded.schedule import CronSchedule, RateSchedule, ScheduleError, parse_schedule, scaled


def at(text: str) -> float:
    """'2024-03-01T09:30' or '...:SS' in UTC as seconds since the epoch."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def show(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M")


# 2024-03-01 is a Friday; 2024 is a leap year.
CRON_CASES = [
    # The examples of the EventBridge documentation.
    ("cron(0 10 * * ? *)", "2024-03-01T09:30", "2024-03-01T10:00"),
    ("cron(0 10 * * ? *)", "2024-03-01T10:00", "2024-03-02T10:00"),  # strictly after
    ("cron(15 12 * * ? *)", "2024-03-01T12:15:30", "2024-03-02T12:15"),
    ("cron(0 18 ? * MON-FRI *)", "2024-03-01T18:00", "2024-03-04T18:00"),
    ("cron(0 8 1 * ? *)", "2024-03-01T08:00", "2024-04-01T08:00"),
    ("cron(0/15 * * * ? *)", "2024-03-01T09:31", "2024-03-01T09:45"),
    ("cron(0/15 * * * ? *)", "2024-03-01T09:59:59", "2024-03-01T10:00"),
    ("cron(0/10 * ? * MON-FRI *)", "2024-03-01T23:55", "2024-03-04T00:00"),
    ("cron(0/5 8-17 ? * MON-FRI *)", "2024-03-01T12:02", "2024-03-01T12:05"),
    ("cron(0/5 8-17 ? * MON-FRI *)", "2024-03-01T17:55", "2024-03-04T08:00"),
    ("cron(0 9 ? * 2#1 *)", "2024-03-04T09:00", "2024-04-01T09:00"),
    # Lists, ranges, steps, names.
    ("cron(30 6 1 JAN,JUL ? *)", "2024-03-01T00:00", "2024-07-01T06:30"),
    ("cron(0 0 1 jan ? *)", "2024-03-01T00:00", "2025-01-01T00:00"),
    ("cron(1/10 * * * ? *)", "2024-03-01T09:30", "2024-03-01T09:31"),
    ("cron(10-50/20 * * * ? *)", "2024-03-01T09:30", "2024-03-01T09:50"),
    ("cron(*/20 * * * ? *)", "2024-03-01T09:41", "2024-03-01T10:00"),
    ("cron(0 22-2 * * ? *)", "2024-03-01T02:30", "2024-03-01T22:00"),  # a wrapping range
    ("cron(0 12 ? * FRI-MON *)", "2024-03-04T12:00", "2024-03-08T12:00"),
    ("cron(0 12 ? * 1 *)", "2024-03-01T00:00", "2024-03-03T12:00"),  # 1 = Sunday
    ("cron(0 12 ? * 7 *)", "2024-03-01T00:00", "2024-03-02T12:00"),  # 7 = Saturday
    ("cron(0 0 1 1 ? *)", "2024-12-31T23:59:30", "2025-01-01T00:00"),
    ("cron(0 0 29 2 ? *)", "2024-03-01T00:00", "2028-02-29T00:00"),
    ("cron(0 0 31 * ? *)", "2024-03-31T00:00", "2024-05-31T00:00"),  # April has no 31st
    # Years.
    ("cron(0 12 25 12 ? 2025-2026)", "2024-03-01T00:00", "2025-12-25T12:00"),
    ("cron(0 12 25 12 ? 2025-2026)", "2026-12-25T12:00", None),
    ("cron(0 0 1 1 ? 2020)", "2024-03-01T00:00", None),
    ("cron(0 0 1 1 ? *)", "2199-01-01T00:00", None),
    ("cron(0 0 1 1 ? 2030/5)", "2031-01-01T00:00", "2035-01-01T00:00"),
    # L in Day-of-month: the last day.
    ("cron(0 0 L * ? *)", "2024-02-01T00:00", "2024-02-29T00:00"),
    ("cron(0 0 L * ? *)", "2023-02-01T00:00", "2023-02-28T00:00"),
    ("cron(0 0 L * ? *)", "2024-04-30T00:00", "2024-05-31T00:00"),
    # LW: the last weekday.
    ("cron(0 0 LW * ? *)", "2024-02-01T00:00", "2024-02-29T00:00"),  # a Thursday
    ("cron(0 0 LW * ? *)", "2024-06-01T00:00", "2024-06-28T00:00"),  # the 30th is a Sunday
    ("cron(0 0 LW * ? *)", "2024-03-01T00:00", "2024-03-29T00:00"),  # the 31st is a Sunday
    # nW: the weekday nearest the nth, within the month.
    ("cron(0 0 15W * ? *)", "2024-03-01T00:00", "2024-03-15T00:00"),  # a Friday already
    ("cron(0 0 15W * ? *)", "2024-06-01T00:00", "2024-06-14T00:00"),  # Saturday -> Friday
    ("cron(0 0 15W * ? *)", "2024-09-01T00:00", "2024-09-16T00:00"),  # Sunday -> Monday
    ("cron(0 0 1W * ? *)", "2024-06-01T00:00", "2024-06-03T00:00"),  # Saturday the 1st -> Monday 3rd
    ("cron(0 0 31W * ? *)", "2024-03-01T00:00", "2024-03-29T00:00"),  # Sunday the 31st -> Friday 29th
    ("cron(0 0 31W * ? *)", "2024-04-01T00:00", "2024-05-31T00:00"),  # April has no 31st
    # L in Day-of-week: alone it is Saturday; after a day, that day's last occurrence in the month.
    ("cron(0 0 ? * L *)", "2024-03-01T00:00", "2024-03-02T00:00"),
    ("cron(0 0 ? * 6L *)", "2024-03-01T00:00", "2024-03-29T00:00"),
    ("cron(0 0 ? * 6L *)", "2024-03-29T00:00", "2024-04-26T00:00"),
    ("cron(0 0 ? * FRIL *)", "2024-03-29T00:00", "2024-04-26T00:00"),
    ("cron(0 0 ? * 2L *)", "2024-03-01T00:00", "2024-03-25T00:00"),
    # #: the nth weekday of the month.
    ("cron(0 0 ? * 3#2 *)", "2024-03-01T00:00", "2024-03-12T00:00"),
    ("cron(0 0 ? * TUE#2 *)", "2024-03-12T00:00", "2024-04-09T00:00"),
    ("cron(0 0 ? * 6#5 *)", "2024-03-01T00:00", "2024-03-29T00:00"),
    ("cron(0 0 ? * 6#5 *)", "2024-03-29T00:00", "2024-05-31T00:00"),  # April has 4 Fridays
]


@pytest.mark.parametrize(("expression", "after", "expected"), CRON_CASES)
def test_cron_next_fire_time(expression: str, after: str, expected: str | None) -> None:
    """Given a cron expression and a moment, when the next fire time is asked,
    then it is the exact expected minute (or None when no occurrence is left)."""
    schedule = parse_schedule(expression)

    assert isinstance(schedule, CronSchedule)
    assert show(schedule.next_after(at(after))) == expected


def test_cron_walks_through_consecutive_fires() -> None:
    """Given every 5 minutes 8:00-17:55 on weekdays, when stepping from Friday 17:50,
    then the fires are 17:55, Monday 08:00, 08:05."""
    schedule = parse_schedule("cron(0/5 8-17 ? * MON-FRI *)")
    ts = at("2024-03-01T17:50")
    seen = []
    for _ in range(3):
        ts = schedule.next_after(ts)
        seen.append(show(ts))

    assert seen == ["2024-03-01T17:55", "2024-03-04T08:00", "2024-03-04T08:05"]


def test_cron_fires_on_whole_minutes() -> None:
    """Given an every-minute cron, when asked from a fractional second, then the answer is :00."""
    schedule = parse_schedule("cron(* * * * ? *)")

    assert schedule.next_after(at("2024-03-01T09:30:15") + 0.5) == at("2024-03-01T09:31")


# -- rates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(12 hours)", 43200),
        ("rate(1 day)", 86400),
        ("rate(7 days)", 604800),
    ],
)
def test_rate_interval(expression: str, seconds: int) -> None:
    """Given a valid rate expression, when parsed, then its interval is the right number of seconds."""
    schedule = parse_schedule(expression)

    assert isinstance(schedule, RateSchedule)
    assert schedule.seconds == seconds


def test_rate_fires_every_interval_from_its_anchor() -> None:
    """Given rate(5 minutes) anchored at t, when stepping, then fires are t+300, t+600, ... and the
    first one is one interval after the anchor even when asked at the anchor or before it."""
    schedule = parse_schedule("rate(5 minutes)").anchored(1000.0)

    assert schedule.next_after(1000.0) == 1300.0
    assert schedule.next_after(500.0) == 1300.0
    assert schedule.next_after(1299.9) == 1300.0
    assert schedule.next_after(1300.0) == 1600.0
    assert schedule.next_after(1000.0 + 300 * 1000 + 1) == 1000.0 + 300 * 1001


def test_rate_anchor_can_be_given_to_parse() -> None:
    """Given an anchor passed to parse_schedule, when stepping, then it counts from it."""
    assert parse_schedule("rate(1 hour)", anchor=50.0).next_after(60.0) == 3650.0


# -- invalid expressions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("", "rate(...) or cron(...)"),
        ("every 5 minutes", "rate(...) or cron(...)"),
        ("rate(1 minutes)", "singular unit 'minute'"),
        ("rate(5 minute)", "plural unit 'minutes'"),
        ("rate(1 hours)", "singular"),
        ("rate(2 day)", "plural"),
        ("rate(0 minutes)", "positive integer"),
        ("rate(-5 minutes)", "positive integer"),
        ("rate(1.5 hours)", "positive integer"),
        ("rate(5 seconds)", "unknown rate unit"),
        ("rate(5 weeks)", "unknown rate unit"),
        ("rate(5)", "rate(<value> <unit>)"),
        ("cron(0 10 * * ?)", "6 fields"),
        ("cron(0 10 * * ? * *)", "6 fields"),
        ("cron(0 10 * * * *)", "'?' in exactly one"),
        ("cron(0 10 ? * ? *)", "'?' in exactly one"),
        ("cron(0 10 1 * MON *)", "'?' in exactly one"),
        ("cron(60 10 * * ? *)", "Minutes value 60 is out of range 0-59"),
        ("cron(0 24 * * ? *)", "Hours value 24"),
        ("cron(0 10 32 * ? *)", "Day-of-month value 32"),
        ("cron(0 10 0 * ? *)", "Day-of-month value 0"),
        ("cron(0 10 * 13 ? *)", "Month value 13"),
        ("cron(0 10 * FOO ? *)", "Month value 'FOO'"),
        ("cron(0 10 ? * 8 *)", "Day-of-week value 8"),
        ("cron(0 10 ? * 0 *)", "Day-of-week value 0"),
        ("cron(0 10 ? * MON-FUN *)", "Day-of-week value 'FUN'"),
        ("cron(0 10 * * ? 1969)", "Year value 1969"),
        ("cron(0 10 * * ? 2200)", "Year value 2200"),
        ("cron(0/0 10 * * ? *)", "increment"),
        ("cron(0/x 10 * * ? *)", "increment"),
        ("cron(1,,2 10 * * ? *)", "empty list item"),
        ("cron(L 10 * * ? *)", "Minutes does not allow 'L'"),
        ("cron(0 10W * * ? *)", "Hours does not allow 'W'"),
        ("cron(0 10 * L ? *)", "Month does not allow 'L'"),
        ("cron(0 10 * * ? L)", "Year does not allow 'L'"),
        ("cron(0 10 * 1#2 ? *)", "Month does not allow '#'"),
        ("cron(? 10 * * ? *)", "Minutes does not allow '?'"),
        ("cron(0 10 1#2 * ? *)", "Day-of-month does not allow '#'"),
        ("cron(0 10 1W,15 * ? *)", "must stand alone"),
        ("cron(0 10 L,15 * ? *)", "must stand alone"),
        ("cron(0 10 ? * 1/2 *)", "Day-of-week does not allow '/'"),
        ("cron(0 10 ? * 2W *)", "Day-of-week does not allow 'W'"),
        ("cron(0 10 ? * 3#1,6#3 *)", "single expression"),
        ("cron(0 10 ? * 3#6 *)", "1-5"),
        ("cron(0 10 ? * 3#0 *)", "1-5"),
        ("cron(0 10 ? * 2-6L *)", "'L' stands alone or follows one day"),
    ],
)
def test_invalid_expression_is_rejected_with_a_reason(expression: str, complaint: str) -> None:
    """Given an expression EventBridge would refuse, when parsed,
    then ScheduleError is raised and its message says what is wrong."""
    with pytest.raises(ScheduleError) as info:
        parse_schedule(expression)

    assert complaint in str(info.value)


def test_schedule_error_is_a_value_error() -> None:
    """Given a bad expression, when parsed, then the error can also be caught as ValueError."""
    with pytest.raises(ValueError):
        parse_schedule("cron(nonsense)")


def test_a_schedule_event_without_an_expression_is_refused_when_the_template_is_read(tmp_path) -> None:
    """Given a template whose function has a Schedule event with no expression
    When the embedded cloud reads it
    Then it raises ScheduleError naming the function and the event (not a scheduler given None)."""
    from pilothouse.embedded.template import read_cloud
    from pilothouse.settings import Settings

    (tmp_path / "template.yaml").write_text(
        "Resources:\n"
        "  Tick:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: functions/tick/\n"
        "      Handler: app.handler\n"
        "      Events:\n"
        "        Every:\n"
        "          Type: Schedule\n"
        "          Properties: {}\n"
    )
    with pytest.raises(ScheduleError, match=r"Tick\.Every: a schedule expression must be a string"):
        read_cloud(tmp_path, Settings())


def test_a_scaled_rate_fires_scale_times_as_often_and_cron_is_unchanged() -> None:
    """Given rate(1 minute) and a cron expression on a time scale of 10, when stepping, then the
    rate fires every 6 s from its anchor and the cron at its wall-clock minute as before; a scale
    of 1 is the schedule itself and a scale of 0 is refused."""
    rate = scaled(parse_schedule("rate(1 minute)"), 10).anchored(1000.0)
    assert [rate.next_after(t) for t in (1000.0, 1006.0, 1011.9)] == [1006.0, 1012.0, 1012.0]
    cron = parse_schedule("cron(0 10 * * ? *)")
    assert scaled(cron, 10) is cron
    same = parse_schedule("rate(5 minutes)")
    assert scaled(same, 1) is same
    with pytest.raises(ValueError, match="positive"):
        scaled(same, 0)
