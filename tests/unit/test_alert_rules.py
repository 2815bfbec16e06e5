"""Alert rules (pure): CloudWatch's M-of-N with missing data, the state machine, health and backup
age, and rule validation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pilothouse.domain.alerts import (
    evaluate_backup_age,
    evaluate_health,
    evaluate_metric,
    next_state,
    parse_rule,
)

RULE = {
    "comparator": "GreaterThanThreshold",
    "threshold": 10.0,
    "evaluation_periods": 5,
    "datapoints_to_alarm": 3,
    "missing_data": "missing",
}


@pytest.mark.parametrize(
    ("values", "treatment", "condition", "breaching"),
    [
        ([1, 2, 3, 4, 5], "missing", "ok", 0),
        ([11, 2, 3, 4, 5], "missing", "partial", 1),
        ([11, 12, 3, 13, 5], "missing", "breaching", 3),
        ([11, None, 12, None, 13], "missing", "breaching", 3),
        ([None, None, 11, None, None], "missing", "partial", 1),
        ([None] * 5, "missing", "unknown", 0),
        ([None] * 5, "ignore", "unknown", 0),
        ([None] * 5, "breaching", "breaching", 5),
        ([None] * 5, "not_breaching", "ok", 0),
        ([11, None, None, 1, 1], "breaching", "breaching", 3),
        ([11, 11, None, None, 1], "not_breaching", "partial", 2),
        ([10, 10, 10, 10, 10], "missing", "ok", 0),  # GreaterThan, not GreaterThanOrEqual
        ([11, 11, 11], "missing", "breaching", 3),  # fewer values than periods: the oldest are missing
    ],
)
def test_m_of_n_with_missing_data(values, treatment, condition, breaching):
    """Given 3 of 5 datapoints to alarm and a missing-data treatment
    When the window is judged
    Then the condition and the count of breaching datapoints are CloudWatch's."""
    got, decided = evaluate_metric({**RULE, "missing_data": treatment}, values)
    assert (got, decided["breaching"]) == (condition, breaching)
    assert len(decided["values"]) == 5


@pytest.mark.parametrize(
    ("comparator", "value", "breaches"),
    [
        ("GreaterThanOrEqualToThreshold", 10, True),
        ("LessThanThreshold", 9.99, True),
        ("LessThanThreshold", 10, False),
        ("LessThanOrEqualToThreshold", 10, True),
    ],
)
def test_comparators(comparator, value, breaches):
    rule = {**RULE, "comparator": comparator, "evaluation_periods": 1, "datapoints_to_alarm": 1}
    assert (evaluate_metric(rule, [value])[0] == "breaching") is breaches


@settings(deadline=None)  # the machine is shared: no per-example time limit
@given(st.lists(st.one_of(st.none(), st.floats(-100, 100)), min_size=0, max_size=12), st.integers(1, 6))
def test_the_window_is_always_the_last_n_periods(values, n):
    """Whatever the series, the judged window has exactly N values: the last N (missing ones None)."""
    rule = {**RULE, "evaluation_periods": n, "datapoints_to_alarm": n}
    _, decided = evaluate_metric(rule, values)
    assert len(decided["values"]) == n
    tail = values[-n:]
    assert decided["values"][n - len(tail) :] == tail


@pytest.mark.parametrize(
    ("state", "condition", "new"),
    [
        ("OK", "ok", "OK"),
        ("OK", "partial", "PENDING"),
        ("OK", "breaching", "FIRING"),
        ("PENDING", "ok", "OK"),
        ("PENDING", "partial", "PENDING"),
        ("PENDING", "breaching", "FIRING"),
        ("FIRING", "breaching", "FIRING"),
        ("FIRING", "partial", "RESOLVED"),
        ("FIRING", "ok", "RESOLVED"),
        ("RESOLVED", "ok", "RESOLVED"),
        ("RESOLVED", "partial", "PENDING"),
        ("RESOLVED", "breaching", "FIRING"),
        ("FIRING", "unknown", "FIRING"),
        ("OK", "unknown", "OK"),
    ],
)
def test_the_state_machine(state, condition, new):
    assert next_state(state, condition) == new


def test_health_for_minutes():
    rule = {"for_minutes": 5}
    assert evaluate_health(rule, {"status": "Healthy"}, 1000, None)[0] == "ok"
    assert evaluate_health(rule, {"status": "Degraded"}, 1000, None)[0] == "ok"
    assert evaluate_health(rule, {"status": "Unknown"}, 1000, None)[0] == "unknown"
    assert evaluate_health(rule, None, 1000, None)[0] == "unknown"
    assert evaluate_health(rule, {"status": "Unhealthy"}, 1000, 1000 - 299)[0] == "partial"
    condition, decided = evaluate_health(rule, {"status": "Unhealthy"}, 1000, 1000 - 300)
    assert condition == "breaching" and decided["unhealthy_minutes"] == 5


def test_backup_age():
    rule = {"rpo_minutes": 60}
    assert evaluate_backup_age(rule, None, 10_000)[0] == "unknown"
    assert evaluate_backup_age(rule, 10_000 - 3600, 10_000)[0] == "ok"
    assert evaluate_backup_age(rule, 10_000 - 3601, 10_000)[0] == "breaching"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a", "kind": "metric", "component": "web", "metric": "m", "comparator": "Bigger",
         "threshold": 1},
        {"name": "a", "kind": "metric", "component": "web", "metric": "m", "stat": "p101",
         "comparator": "LessThanThreshold", "threshold": 1},
        {"name": "a", "kind": "metric", "component": "web", "metric": "m", "period": 90,
         "comparator": "LessThanThreshold", "threshold": 1},
        {"name": "a", "kind": "metric", "component": "../etc", "metric": "m",
         "comparator": "LessThanThreshold", "threshold": 1},
        {"name": "a", "kind": "event", "events": []},
        {"name": "a", "kind": "event", "events": ["deployment.*.x y"]},
        {"name": "a", "kind": "backup_age", "rpo_minutes": 0},
        {"name": "rules", "kind": "event"},
    ],
)  # fmt: skip
def test_bad_rules_are_refused(body):
    with pytest.raises(ValidationError):
        parse_rule(body)


def test_defaults():
    rule = parse_rule({"name": "a", "kind": "metric", "component": "web", "metric": "m",
                       "comparator": "LessThanThreshold", "threshold": 1})  # fmt: skip
    assert (rule.stat, rule.period, rule.evaluation_periods, rule.missing_data) == (
        "Average",
        60,
        1,
        "missing",
    )
    assert parse_rule({"name": "b", "kind": "event"}).events == [
        "deployment.rolled_back",
        "deployment.failed",
    ]
