"""The auto scaler's decision (pure): target tracking, steps, schedules, bounds and cooldowns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pilothouse.domain.autoscaling import AutoscalePolicy, decide
from pilothouse.domain.cron import Cron

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()  # a Wednesday


def policy(**over) -> AutoscalePolicy:
    body = {"target_tracking": [{"metric": "requests_per_replica", "target": 10}]} | over
    return AutoscalePolicy.model_validate(body)


def run(p, current=2, low=1, high=10, now=NOW, **readings):
    return decide(p, current=current, low=low, high=high, readings=readings, now=now)


def test_target_tracking_follows_hpa_within_bounds_and_tolerance():
    """Given a target of 10 req/s per replica, Then 25 on 2 replicas asks 5, 9.5 holds (tolerance),
    4 scales in to 1, 100 stops at max, and no data holds."""
    p = policy()
    assert (run(p, requests_per_replica=25.0).desired, run(p, requests_per_replica=25.0).action) == (
        5,
        "scale_out",
    )
    assert run(p, requests_per_replica=9.5).action == "hold"
    assert run(p, requests_per_replica=4.0).desired == 1
    out = run(p, requests_per_replica=100.0)
    assert out.desired == 10 and "kept within [1, 10]" in out.reason
    assert run(p).action == "hold" and "no metric data" in run(p).reason


def test_the_largest_recommendation_wins():
    """Given target tracking and step scaling, Then scale-out follows whichever asks more."""
    p = policy(
        step_scaling=[
            {
                "metric": "p99_latency_ms",
                "steps": [{"lower": 500, "change": 3}, {"upper": 500, "change": 0}],
            }
        ]
    )
    d = run(p, current=2, requests_per_replica=12.0, p99_latency_ms=800.0)
    assert d.desired == 5 and [r["policy"] for r in d.recommendations] == ["target_tracking", "step_scaling"]


def test_cooldowns_block_and_say_how_long():
    """Given a scale-out 30 s ago (cooldown 60) and a scale-in cooldown of 300, Then both wait."""
    p = policy(scale_out_cooldown=60, scale_in_cooldown=300)
    out = decide(
        p,
        current=2,
        low=1,
        high=10,
        readings={"requests_per_replica": 50.0},
        now=NOW,
        last_scale_out=NOW - 30,
    )
    assert out.action == "cooldown" and out.desired == 2 and "30 s left" in out.reason
    back = decide(
        p,
        current=4,
        low=1,
        high=10,
        readings={"requests_per_replica": 1.0},
        now=NOW,
        last_scale_out=NOW - 100,
    )
    assert back.action == "cooldown" and "scale-in cooldown, 200 s left" in back.reason
    later = decide(
        p,
        current=4,
        low=1,
        high=10,
        readings={"requests_per_replica": 1.0},
        now=NOW,
        last_scale_out=NOW - 301,
    )
    assert later.action == "scale_in" and later.desired == 1


def test_a_schedule_in_force_narrows_the_bounds():
    """Given business hours 08:00-18:00 Paris on weekdays with min 4, Then at 10:00 UTC (11:00 in
    Paris) the minimum is 4 and at 20:00 UTC the evening schedule's min 1 is back."""
    p = policy(
        scheduled=[
            {"name": "day", "cron": "0 8 * * 1-5", "timezone": "Europe/Paris", "min": 4},
            {"name": "night", "cron": "0 18 * * *", "timezone": "Europe/Paris", "min": 1},
        ]
    )
    day = run(p, current=2, requests_per_replica=1.0)
    assert (day.low, day.desired, day.action) == (4, 4, "scale_out") and "schedule day" in day.reason
    night = run(
        p, current=4, now=datetime(2026, 12, 2, 20, 0, tzinfo=UTC).timestamp(), requests_per_replica=1.0
    )
    assert (night.low, night.desired) == (1, 1)


def test_cron_last_fire_in_a_time_zone():
    """Given 30 9 * * 1-5 in New York, Then on Monday 13:00 UTC the last fire is the previous Friday."""
    monday = datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    fired = Cron.parse("30 9 * * 1-5").last_fire(monday, "America/New_York")
    assert fired.isoformat() == "2026-12-04T09:30:00-05:00"
    assert Cron.parse("*/15 * * * *").last_fire(monday, "UTC").minute == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"target_tracking": [{"metric": "bad metric!", "target": 1}]},
        {"target_tracking": [{"metric": "requests_per_replica", "target": 0}]},
        {"scheduled": [{"cron": "61 * * * *", "min": 1}]},
        {"scheduled": [{"cron": "0 8 * * *", "timezone": "Mars/Olympus", "min": 1}]},
        {"scheduled": [{"cron": "0 8 * * *", "min": 5, "max": 2}]},
        {
            "step_scaling": [
                {"metric": "x", "steps": [{"lower": 1, "upper": 5, "change": 1}, {"lower": 3, "change": 2}]}
            ]
        },
        {"target_tracking": [{"metric": "requests_per_replica", "target": 1, "surprise": True}]},
    ],
)
def test_bad_policies_are_refused(body):
    """Given a policy with nothing in it, a bad metric, target, cron, zone, bounds, overlapping
    steps or an unknown field, Then validation refuses it."""
    with pytest.raises(ValidationError):
        AutoscalePolicy.model_validate(body)


@pytest.mark.parametrize("reading", [float("inf"), float("nan"), 1e308])
def test_a_reading_that_is_not_finite_is_missing_data_not_an_error(reading):
    """Given a target of 0.5 and a reading that is infinite, NaN or so large its ratio overflows,
    When the auto scaler decides, Then it holds, saying the reading was treated as missing data."""
    p = policy(
        target_tracking=[{"metric": "requests_per_replica", "target": 0.5}],
        step_scaling=[{"metric": "p99_latency_ms", "steps": [{"lower": 500, "change": 3}]}],
    )
    d = run(p, requests_per_replica=reading, p99_latency_ms=float("inf"))
    assert d.action == "hold" and d.desired == 2 and d.recommendations == []
    assert "treated as missing data: requests_per_replica, p99_latency_ms" in d.reason
