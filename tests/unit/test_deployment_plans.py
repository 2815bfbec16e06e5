"""The pure planner and the analysis judgement of domain/deployments.py: table-driven cases and
properties (hypothesis) over every built-in strategy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pilothouse.domain.deployments import Analysis, Strategy, compile_plan, conclude, judge, parse_strategy

KINDS = {"prepare", "set_weight", "pause", "analysis", "approval", "replicas", "health"}


def kinds(plan: list[dict]) -> list[str]:
    return [s["kind"] for s in plan]


def weights(plan: list[dict]) -> list[int]:
    return [s["weight"] for s in plan if s["kind"] == "set_weight"]


# -- parse_strategy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "type_", "percentage", "interval", "preset"),
    [
        (None, "all-at-once", None, None, None),
        ("AllAtOnce", "all-at-once", None, None, "AllAtOnce"),
        ("CodeDeployDefault.LambdaAllAtOnce", "all-at-once", None, None, "CodeDeployDefault.LambdaAllAtOnce"),
        ("Canary10Percent5Minutes", "canary", 10, 300, "Canary10Percent5Minutes"),
        (
            "CodeDeployDefault.LambdaCanary10Percent30Minutes",
            "canary",
            10,
            1800,
            "CodeDeployDefault.LambdaCanary10Percent30Minutes",
        ),
        ("Linear10PercentEvery1Minute", "linear", 10, 60, "Linear10PercentEvery1Minute"),
        ("Linear25PercentEvery10Minutes", "linear", 25, 600, "Linear25PercentEvery10Minutes"),
        ("rolling", "rolling", None, None, None),
        ("blue-green", "blue-green", None, None, None),
        ({"type": "canary", "percentage": 20, "interval_seconds": 1.5}, "canary", 20, 1.5, None),
    ],
)
def test_parse_strategy_reads_presets_type_names_and_objects(value, type_, percentage, interval, preset):
    """Given a preset name, a type name or an object, then the strategy has its type and parameters."""
    s = parse_strategy(value)
    assert (s.type, s.percentage, s.interval_seconds, s.preset) == (type_, percentage, interval, preset)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("Bogus", "all-at-once"),  # an unknown name: the error lists the allowed types
        ("Canary10Percent", "all-at-once"),
        ({"type": "teleport"}, "all-at-once"),
        ({"type": "canary"}, "needs percentage and interval_seconds"),
        ({"type": "linear", "percentage": 10}, "needs percentage and interval_seconds"),
        ({"type": "custom"}, "needs steps"),
        ({"type": "rolling", "batch_size": "lots"}, "batch_size is a number of replicas or a percentage"),
        ({"type": "canary", "percentage": 100, "interval_seconds": 60}, "less than or equal to 99"),
        ("Linear0PercentEvery1Minute", "greater than or equal to 1"),
        ({"type": "all-at-once", "surprise": True}, "Extra inputs are not permitted"),
        ({"type": "custom", "steps": [{"kind": "set_weight"}]}, "a set_weight step needs weight"),
        ({"type": "custom", "steps": [{"kind": "replicas", "replicas": 2}]}, "needs revision"),
        ({"type": "custom", "steps": [{"kind": "jump"}]}, "prepare"),
    ],
)
def test_unknown_or_incomplete_strategies_are_refused_with_a_clear_error(value, says):
    """Given a strategy that is unknown or misses a parameter, then parsing fails and says why."""
    with pytest.raises(ValidationError) as caught:
        parse_strategy(value)
    assert says in str(caught.value)


# -- compile_plan: table -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "replicas", "expected"),
    [
        (
            "AllAtOnce",
            3,
            [
                {"kind": "replicas", "revision": "stable", "replicas": 0},
                {"kind": "prepare"},
                {"kind": "set_weight", "weight": 100},
                {"kind": "health"},
            ],
        ),
        (
            "Canary10Percent5Minutes",
            2,
            ["prepare", ("set_weight", 10), ("pause", 300), "analysis", ("set_weight", 100)],
        ),
        (
            {"type": "linear", "percentage": 40, "interval_seconds": 0},
            2,
            ["prepare", ("set_weight", 40), "analysis", ("set_weight", 80), "analysis", ("set_weight", 100)],
        ),
        (
            {"type": "canary", "percentage": 5, "interval_seconds": 0.2},
            1,
            ["prepare", ("set_weight", 5), ("pause", 1), "analysis", ("set_weight", 100)],
        ),
        ({"type": "blue-green"}, 2, ["prepare", "health", ("set_weight", 100)]),
        (
            {"type": "blue-green", "approval": True, "keep_old_seconds": 30},
            2,
            ["prepare", "health", "approval", ("set_weight", 100), ("pause", 30)],
        ),
        (
            {"type": "rolling", "batch_size": 2},
            3,
            [
                ("prepare", 2),
                "health",
                ("replicas", "stable", 1),
                ("replicas", "candidate", 3),
                "health",
                ("replicas", "stable", 0),
                "analysis",
            ],
        ),
        (
            {"type": "rolling", "batch_size": "50%", "max_unavailable": 1},
            2,
            [
                ("replicas", "stable", 1),
                ("prepare", 1),
                "health",
                ("replicas", "stable", 0),
                ("replicas", "candidate", 2),
                "health",
                "analysis",
            ],
        ),
        (
            {"type": "custom", "steps": [{"kind": "set_weight", "weight": 50}, {"kind": "pause"}]},
            1,
            ["prepare", ("set_weight", 50), "pause", ("set_weight", 100)],
        ),
        (
            {"type": "custom", "steps": [{"kind": "prepare"}, {"kind": "set_weight", "weight": 100}]},
            1,
            ["prepare", ("set_weight", 100)],
        ),
    ],
)
def test_each_strategy_compiles_to_its_plan(strategy, replicas, expected):
    """Given a strategy and a running replica count, then the plan is exactly the expected steps."""
    plan = compile_plan(parse_strategy(strategy), replicas=replicas)
    if expected and isinstance(expected[0], dict):
        assert plan == expected
        return
    short = []
    for s in plan:
        if s["kind"] == "set_weight":
            short.append(("set_weight", s["weight"]))
        elif s["kind"] == "pause" and "seconds" in s:
            short.append(("pause", s["seconds"]))
        elif s["kind"] == "replicas":
            short.append(("replicas", s["revision"], s["replicas"]))
        elif s["kind"] == "prepare" and "replicas" in s:
            short.append(("prepare", s["replicas"]))
        else:
            short.append(s["kind"])
    assert short == expected


def test_first_deploy_ignores_the_strategy():
    """Given nothing serves yet, then every strategy starts, sends everything and checks health."""
    for value in ("AllAtOnce", "Canary10Percent5Minutes", {"type": "rolling", "batch_size": 1}):
        assert compile_plan(parse_strategy(value), replicas=4, first_deploy=True) == [
            {"kind": "prepare"},
            {"kind": "set_weight", "weight": 100},
            {"kind": "health"},
        ]


def test_analysis_steps_carry_the_strategy_analysis_in_whole_seconds():
    """Given an analysis with a fractional interval, then each analysis step carries it rounded up."""
    s = parse_strategy(
        {"type": "canary", "percentage": 10, "interval_seconds": 0, "analysis": {"interval_seconds": 2.2}}
    )
    step = next(x for x in compile_plan(s, replicas=1) if x["kind"] == "analysis")
    assert step["analysis"]["interval_seconds"] == 3
    assert step["analysis"]["max_error_rate"] == Analysis().max_error_rate


# -- compile_plan: properties ------------------------------------------------------------------------

canary_or_linear = st.builds(
    lambda t, p, i: Strategy(type=t, percentage=p, interval_seconds=i),
    st.sampled_from(["canary", "linear"]),
    st.integers(1, 99),
    st.one_of(st.just(0), st.floats(0.01, 86400)),
)
rolling = st.builds(
    lambda b, u: Strategy(type="rolling", batch_size=b, max_unavailable=u),
    st.one_of(st.none(), st.integers(1, 50), st.integers(1, 100).map(lambda n: f"{n}%")),
    st.integers(0, 10),
)
blue_green = st.builds(
    lambda a, k: Strategy(type="blue-green", approval=a, keep_old_seconds=k),
    st.booleans(),
    st.one_of(st.just(0), st.floats(0.01, 86400)),
)
built_in = st.one_of(st.just(Strategy()), canary_or_linear, rolling, blue_green)


@settings(max_examples=300, deadline=None)
@given(strategy=built_in, replicas=st.integers(1, 40), first=st.booleans())
def test_every_built_in_plan_starts_once_raises_weights_to_100_and_uses_the_step_vocabulary(
    strategy, replicas, first
):
    """Given any built-in strategy, then its plan prepares exactly once, its weights never decrease
    and end at 100 (or it is a rolling plan that shifts replicas instead), pauses are whole positive
    seconds and every step is of the step vocabulary."""
    plan = compile_plan(strategy, replicas=replicas, first_deploy=first)
    assert set(kinds(plan)) <= KINDS
    assert kinds(plan).count("prepare") == 1
    w = weights(plan)
    assert w == sorted(w)
    if strategy.type != "rolling" or first:
        assert w[-1] == 100
        assert all(0 < x <= 100 for x in w)
    for s in plan:
        if s["kind"] == "pause" and "seconds" in s:
            assert isinstance(s["seconds"], int) and s["seconds"] >= 1
        if s["kind"] == "analysis":
            assert Analysis.model_validate(s["analysis"])


@settings(max_examples=300, deadline=None)
@given(strategy=rolling, replicas=st.integers(1, 40))
def test_a_rolling_plan_never_exceeds_the_target_and_ends_all_candidate(strategy, replicas):
    """Given a rolling strategy, then no step asks for more replicas than the target or fewer than 0,
    the candidate only grows and the stable only shrinks, and the plan ends with every replica on the
    candidate, none on the stable, and an analysis."""
    plan = compile_plan(strategy, replicas=replicas)
    candidate, stable = [], []
    for s in plan:
        if s["kind"] == "prepare":
            candidate.append(s["replicas"])
        elif s["kind"] == "replicas":
            (candidate if s["revision"] == "candidate" else stable).append(s["replicas"])
    assert all(0 <= n <= replicas for n in candidate + stable)
    assert candidate == sorted(candidate) and stable == sorted(stable, reverse=True)
    assert candidate[-1] == replicas and stable[-1] == 0
    assert plan[-1]["kind"] == "analysis"
    # at no point do more instances run than the target plus one batch (the surge)
    batch = max(b - a for a, b in zip([0, *candidate], candidate, strict=False))
    cand, stab = 0, replicas
    for s in plan:
        if s["kind"] == "prepare" or (s["kind"] == "replicas" and s["revision"] == "candidate"):
            cand = s["replicas"]
        elif s["kind"] == "replicas":
            stab = s["replicas"]
        assert cand + stab <= replicas + batch


# -- judge and conclude ------------------------------------------------------------------------------


def metrics(requests=100, error_rate=0.0, p99_ms=10.0, alarms=()):
    return {"requests": requests, "error_rate": error_rate, "p99_ms": p99_ms, "alarms_in_alarm": list(alarms)}


HEALTHY = {"healthy": True, "failing": 0, "checked": 2}
SICK = {"healthy": False, "failing": 1, "checked": 2}


@pytest.mark.parametrize(
    ("analysis", "m", "health", "outcome", "reason"),
    [
        ({}, metrics(), HEALTHY, "pass", None),
        ({}, metrics(error_rate=0.2), HEALTHY, "fail", "error rate 0.200 > 0.05"),
        ({}, metrics(error_rate=0.05), HEALTHY, "pass", None),
        ({"max_p99_ms": 50}, metrics(p99_ms=80), HEALTHY, "fail", "p99 80.0 ms > 50.0 ms"),
        ({"max_p99_ms": 50}, metrics(p99_ms=None), HEALTHY, "pass", None),
        ({}, metrics(), SICK, "fail", "1 of 2 instances unhealthy"),
        ({"health": False}, metrics(), SICK, "pass", None),
        ({}, metrics(), None, "pass", None),
        ({}, metrics(alarms=["errors"]), HEALTHY, "fail", "alarms in ALARM: errors"),
        ({"min_requests": 10}, metrics(requests=3, error_rate=1.0), HEALTHY, "no_data", "3 requests"),
        ({}, metrics(error_rate=None), HEALTHY, "no_data", "100 requests"),
        ({"min_requests": 10}, metrics(requests=3), SICK, "fail", "unhealthy"),
        ({"max_error_rate": None}, metrics(error_rate=0.9), HEALTHY, "pass", None),
    ],
)
def test_judge_table(analysis, m, health, outcome, reason):
    """Given an analysis, a measurement and a health check, then the verdict and its reason."""
    verdict = judge(Analysis(**analysis), m, health)
    assert verdict.outcome == outcome
    if reason:
        assert any(reason in r for r in verdict.reasons), verdict.reasons
    elif outcome == "pass":
        assert verdict.reasons == []


@settings(max_examples=300, deadline=None)
@given(
    max_error=st.floats(0, 1),
    max_p99=st.one_of(st.none(), st.floats(1, 10_000)),
    min_requests=st.integers(0, 1000),
    requests=st.integers(0, 10_000),
    error_rate=st.floats(0, 1),
    p99=st.floats(0, 20_000),
    healthy=st.booleans(),
    alarms=st.lists(st.sampled_from(["a", "b"]), max_size=2),
)
def test_a_failing_metric_always_fails_the_verdict(
    max_error, max_p99, min_requests, requests, error_rate, p99, healthy, alarms
):
    """Given any measurement, then the verdict fails exactly when a check fails: an unhealthy
    instance or an alarm fail even without data; a metric over its limit fails when there is data;
    otherwise it passes, or is no data below min_requests."""
    analysis = Analysis(max_error_rate=max_error, max_p99_ms=max_p99, min_requests=min_requests)
    health = HEALTHY if healthy else SICK
    verdict = judge(analysis, metrics(requests, error_rate, p99, alarms), health)
    always = not healthy or bool(alarms)
    enough = requests >= min_requests
    over = error_rate > max_error or (max_p99 is not None and p99 > max_p99)
    if always or (enough and over):
        assert verdict.outcome == "fail" and verdict.reasons
    elif not enough:
        assert verdict.outcome == "no_data"
    else:
        assert verdict.outcome == "pass"


@pytest.mark.parametrize(
    ("analysis", "verdicts", "expected"),
    [
        ({}, ["pass"], "pass"),
        ({}, ["fail"], "fail"),
        ({}, ["no_data"], "pass"),
        ({"measurements": 3}, ["pass", "pass"], "continue"),
        ({"measurements": 3}, ["pass", "pass", "pass"], "pass"),
        ({"measurements": 3, "failure_limit": 1}, ["fail", "pass"], "continue"),
        ({"measurements": 3, "failure_limit": 1}, ["fail", "pass", "fail"], "fail"),
        (
            {"measurements": 5, "failure_limit": 5, "consecutive_failure_limit": 2},
            ["fail", "pass"],
            "continue",
        ),
        (
            {"measurements": 5, "failure_limit": 5, "consecutive_failure_limit": 2},
            ["pass", "fail", "fail"],
            "fail",
        ),
    ],
)
def test_conclude_table(analysis, verdicts, expected):
    """Given the verdicts so far, then the analysis fails past its limits and passes after the last."""
    assert conclude(Analysis(**analysis), verdicts) == expected


@settings(max_examples=300, deadline=None)
@given(
    measurements=st.integers(1, 10),
    failure_limit=st.integers(0, 10),
    verdicts=st.lists(st.sampled_from(["pass", "fail", "no_data"]), max_size=12),
)
def test_conclude_fails_once_failures_pass_the_limit_and_never_passes_early(
    measurements, failure_limit, verdicts
):
    """Given any verdicts, then more failures than the limit always fail, and the analysis passes only
    after all its measurements."""
    analysis = Analysis(measurements=measurements, failure_limit=failure_limit)
    result = conclude(analysis, verdicts)
    if verdicts.count("fail") > failure_limit:
        assert result == "fail"
    elif len(verdicts) < measurements:
        assert result == "continue"
    else:
        assert result == "pass"
