"""The local scheduler: driven by tick() on a ManualClock (no sleeps), plus one run of its thread."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from pilothouse.clock import ManualClock
from pilothouse.embedded.schedule import ScheduleError
from pilothouse.embedded.scheduler import ScheduledJob, Scheduler, scheduled_event

START = datetime(2024, 3, 1, 9, 30, tzinfo=UTC).timestamp()  # a Friday


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.called = threading.Event()

    def __call__(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.called.set()


def test_rate_job_first_fires_one_interval_after_start() -> None:
    """Given a rate(5 minutes) job created at START, when ticking at START+299 then START+300,
    then it fires only at the second tick, and next at START+600."""
    clock = ManualClock(START)
    record = Recorder()
    scheduler = Scheduler(clock, [ScheduledJob("every5", "rate(5 minutes)", record)], max_workers=0)

    assert scheduler.tick(START + 299) == []
    assert scheduler.tick(START + 300) == ["every5"]
    assert len(record.events) == 1
    assert scheduler.next_fire("every5") == START + 600


def test_callback_gets_an_eventbridge_scheduled_event() -> None:
    """Given a cron job due at 10:00, when it fires, then the callback gets a Scheduled Event with
    the fire time, the rule's ARN and an empty detail."""
    clock = ManualClock(START)
    record = Recorder()
    scheduler = Scheduler(clock, [ScheduledJob("ten-am", "cron(0 10 * * ? *)", record)], max_workers=0)

    scheduler.tick(START + 30 * 60 + 7)

    [event] = record.events
    assert event == {
        "version": "0",
        "id": event["id"],
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": "2024-03-01T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/ten-am"],
        "detail": {},
    }
    uuid.UUID(event["id"])


def test_each_fire_has_a_new_event_id() -> None:
    """Given a job fired twice, when comparing its events, then their ids differ."""
    first = scheduled_event("r", START)
    second = scheduled_event("r", START)

    assert first["id"] != second["id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["time"])


def test_tick_fires_only_jobs_that_are_due() -> None:
    """Given an hourly cron and a daily cron, when ticking at 10:00, then only the hourly one fires;
    at midnight both do."""
    clock = ManualClock(START)
    hourly, daily = Recorder(), Recorder()
    scheduler = Scheduler(
        clock,
        [
            ScheduledJob("hourly", "cron(0 * * * ? *)", hourly),
            ScheduledJob("daily", "cron(0 0 * * ? *)", daily),
        ],
        max_workers=0,
    )

    assert scheduler.tick(datetime(2024, 3, 1, 10, 0, tzinfo=UTC).timestamp()) == ["hourly"]
    midnight = datetime(2024, 3, 2, 0, 0, tzinfo=UTC).timestamp()
    assert sorted(scheduler.tick(midnight)) == ["daily", "hourly"]


def test_missed_fires_are_not_replayed() -> None:
    """Given a rate(1 minute) job, when the first tick comes 10 minutes late,
    then it fires once (for the first due time) and resumes at the next minute after now."""
    clock = ManualClock(START)
    record = Recorder()
    scheduler = Scheduler(clock, [ScheduledJob("minutely", "rate(1 minute)", record)], max_workers=0)

    scheduler.tick(START + 600)

    assert len(record.events) == 1
    assert record.events[0]["time"] == "2024-03-01T09:31:00Z"
    assert scheduler.next_fire("minutely") == START + 660
    assert scheduler.tick(START + 630) == []


def test_a_failing_callback_is_logged_and_does_not_stop_others(caplog: pytest.LogCaptureFixture) -> None:
    """Given a job that raises and one that works, both every minute, when two minutes pass,
    then the error is logged each time and both jobs keep firing."""
    clock = ManualClock(START)
    record = Recorder()

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    scheduler = Scheduler(
        clock,
        [ScheduledJob("broken", "rate(1 minute)", broken), ScheduledJob("fine", "rate(1 minute)", record)],
        max_workers=0,
    )

    with caplog.at_level(logging.ERROR, logger="pilothouse.embedded.scheduler"):
        assert sorted(scheduler.tick(START + 60)) == ["broken", "fine"]
        assert sorted(scheduler.tick(START + 120)) == ["broken", "fine"]

    assert len(record.events) == 2
    failures = [r for r in caplog.records if "broken" in r.getMessage()]
    assert len(failures) == 2
    assert failures[0].exc_info is not None and "boom" in str(failures[0].exc_info[1])


def test_a_slow_callback_does_not_hold_up_other_jobs() -> None:
    """Given a pool scheduler with a job that blocks and a quick job, when both fire and the slow one
    is still running at the next fire, then the quick one runs both times and the slow one's
    overlapping fire is skipped."""
    clock = ManualClock(START)
    release = threading.Event()
    slow_calls: list[str] = []
    quick = Recorder()

    def slow(event: dict[str, Any]) -> None:
        slow_calls.append(event["time"])
        release.wait(10)

    scheduler = Scheduler(
        clock,
        [ScheduledJob("slow", "rate(1 minute)", slow), ScheduledJob("quick", "rate(1 minute)", quick)],
        max_workers=2,
    )
    try:
        assert sorted(scheduler.tick(START + 60)) == ["quick", "slow"]
        assert quick.called.wait(5)
        quick.called.clear()

        assert scheduler.tick(START + 120) == ["quick"]
        assert quick.called.wait(5)
        assert len(slow_calls) == 1
    finally:
        release.set()
        assert scheduler.wait_idle(5)
        scheduler.stop()
    assert len(quick.events) == 2


def test_a_schedule_with_no_future_fires_never_fires() -> None:
    """Given a cron for a past year, when ticking far ahead, then nothing fires and next_fire is None."""
    clock = ManualClock(START)
    record = Recorder()
    scheduler = Scheduler(clock, [ScheduledJob("past", "cron(0 0 1 1 ? 2020)", record)], max_workers=0)

    assert scheduler.next_fire("past") is None
    assert scheduler.tick(START + 10 * 365 * 86400) == []


def test_invalid_expression_fails_at_construction() -> None:
    """Given a job with a bad expression, when the scheduler is built, then ScheduleError is raised."""
    with pytest.raises(ScheduleError):
        Scheduler(ManualClock(START), [ScheduledJob("bad", "rate(1 minutes)", Recorder())])


def test_duplicate_job_names_are_rejected() -> None:
    """Given two jobs with one name, when the scheduler is built, then ValueError names it."""
    jobs = [
        ScheduledJob("twin", "rate(1 minute)", Recorder()),
        ScheduledJob("twin", "rate(2 minutes)", Recorder()),
    ]

    with pytest.raises(ValueError, match="twin"):
        Scheduler(ManualClock(START), jobs)


def test_background_thread_fires_and_stops_promptly() -> None:
    """Given a started scheduler with a rate(1 minute) job, when the clock passes the minute, then the
    thread fires the job (rates count from start(), not construction); stop() returns promptly."""
    clock = ManualClock(START)
    record = Recorder()
    scheduler = Scheduler(clock, [ScheduledJob("bg", "rate(1 minute)", record)], poll_interval=0.01)
    clock.advance(30)
    scheduler.start()
    try:
        assert scheduler.next_fire("bg") == START + 90
        clock.advance(60)
        assert record.called.wait(5)
        assert record.events[0]["time"] == "2024-03-01T09:31:30Z"
    finally:
        started = time.monotonic()
        scheduler.stop()
        assert time.monotonic() - started < 1


def test_start_twice_is_an_error() -> None:
    """Given a started scheduler, when start() is called again, then RuntimeError; stop() is idempotent."""
    scheduler = Scheduler(ManualClock(START), [], poll_interval=0.01)
    scheduler.start()
    try:
        with pytest.raises(RuntimeError):
            scheduler.start()
    finally:
        scheduler.stop()
        scheduler.stop()


def test_a_time_scale_runs_rates_faster_and_leaves_cron_on_the_wall_clock() -> None:
    """Given rate(1 minute) and cron(31 9 ...) jobs on a scheduler with time_scale 10
    When ticking through 60 s
    Then the rate job fires every 6 s (10 times), each event timed at its real fire time, and the
    cron job once, at 09:31 as without a scale."""
    clock = ManualClock(START)
    record = Recorder()
    scheduler = Scheduler(
        clock,
        [
            ScheduledJob("minutely", "rate(1 minute)", record),
            ScheduledJob("at931", "cron(31 9 * * ? *)", record),
        ],
        max_workers=0,
        time_scale=10,
    )
    fired = [name for step in range(1, 121) for name in scheduler.tick(START + step * 0.5)]

    assert fired.count("minutely") == 10 and fired.count("at931") == 1
    times = [e["time"] for e in record.events if e["resources"][0].endswith("/minutely")]
    assert times[:2] == ["2024-03-01T09:30:06Z", "2024-03-01T09:30:12Z"]
    assert scheduler.next_fire("minutely") == START + 66
