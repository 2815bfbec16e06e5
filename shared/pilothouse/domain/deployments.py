"""Deployment strategies, analyses and the plan a strategy compiles to (pure; no I/O).

A strategy compiles to a *plan*: a list of steps that the strategy workflows carry out in order,

    {"kind": "prepare"}                         start the new revision beside the old, no traffic
    {"kind": "set_weight", "weight": 10}        send 10 % of the traffic to it
    {"kind": "pause", "seconds": 300}           bake (a promote ends it early); no seconds: until promoted
    {"kind": "analysis"}                        measure health and metrics against the analysis
    {"kind": "approval"}                        wait for a person to approve (or reject)
    {"kind": "replicas", "revision": "stable"|"candidate", "replicas": n}   rolling batches, recreate
    {"kind": "health"}                          every instance of the new revision must be healthy

    >>> [s["kind"] for s in compile_plan(parse_strategy("Canary10Percent5Minutes"), replicas=2)]
    ['prepare', 'set_weight', 'pause', 'analysis', 'set_weight']
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# re-exported: a deployment's statuses live in a module of their own (the CLI reads them without pydantic)
from pilothouse.domain.statuses import FINAL as FINAL
from pilothouse.domain.statuses import STATUSES as STATUSES

PRESETS_CANARY = {5, 10, 15, 30}  # CodeDeploy: CanaryXPercent{5,10,15,30}Minutes with X = 10
CANARY_RE = re.compile(r"^Canary(\d{1,2})Percent(\d{1,3})Minutes$")
LINEAR_RE = re.compile(r"^Linear(\d{1,2})PercentEvery(\d{1,3})Minutes?$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Analysis(Strict):
    """How a step judges the new revision (Argo Rollouts' analysis, CodeDeploy's alarms)."""

    measurements: int = Field(default=1, ge=1, le=100, description="how many times to measure")
    interval_seconds: float = Field(default=0, ge=0, le=3600, description="between measurements")
    window_seconds: float = Field(
        default=60, gt=0, le=86400, description="what each measurement looks back over"
    )
    failure_limit: int = Field(default=0, ge=0, description="failed measurements tolerated")
    consecutive_failure_limit: int | None = Field(default=None, ge=1)
    max_error_rate: float | None = Field(default=0.05, ge=0, le=1)
    max_p99_ms: float | None = Field(default=None, gt=0)
    min_requests: int = Field(default=1, ge=0, description="fewer requests than this is 'no data'")
    no_data: Literal["fail", "pause", "pass"] = "pass"
    health: bool = True
    alarms: list[str] = Field(default_factory=list)
    alerts: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Pilothouse alert rules: the step fails while one fires",
    )


class Step(Strict):
    kind: Literal["prepare", "set_weight", "pause", "analysis", "approval", "replicas", "health"]
    weight: int | None = Field(default=None, ge=0, le=100)
    seconds: float | None = Field(default=None, ge=0, le=86400 * 7)
    revision: Literal["stable", "candidate"] | None = None
    replicas: int | None = Field(default=None, ge=0, le=1000)
    analysis: Analysis | None = None

    @model_validator(mode="after")
    def _fields(self) -> Step:
        need = {"set_weight": "weight", "replicas": "replicas"}.get(self.kind)
        if need and getattr(self, need) is None:
            raise ValueError(f"a {self.kind} step needs {need}")
        if self.kind == "replicas" and self.revision is None:
            raise ValueError("a replicas step needs revision (stable or candidate)")
        return self


class Strategy(Strict):
    """A deploy request's strategy: a type with its parameters, or explicit steps."""

    type: Literal["all-at-once", "rolling", "blue-green", "canary", "linear", "custom"] = "all-at-once"
    # canary / linear
    percentage: int | None = Field(default=None, ge=1, le=99)
    interval_seconds: float | None = Field(default=None, ge=0, le=86400)
    # rolling
    batch_size: int | str | None = Field(
        default=None, description="replicas per batch, or a percentage like '25%'"
    )
    max_unavailable: int = Field(default=0, ge=0)
    # blue-green
    approval: bool = False
    keep_old_seconds: float = Field(default=0, ge=0, le=86400)
    # custom
    steps: list[Step] | None = None
    # every strategy
    analysis: Analysis = Field(default_factory=Analysis)
    workflow: str | None = Field(
        default=None, description="a registered workflow to run instead of the built-in one"
    )
    preset: str | None = None

    @model_validator(mode="after")
    def _params(self) -> Strategy:
        if self.type in ("canary", "linear") and (self.percentage is None or self.interval_seconds is None):
            raise ValueError(f"a {self.type} strategy needs percentage and interval_seconds")
        if self.type == "custom" and not self.steps:
            raise ValueError("a custom strategy needs steps")
        if isinstance(self.batch_size, str) and not re.fullmatch(r"\d{1,3}%", self.batch_size):
            raise ValueError("batch_size is a number of replicas or a percentage like '25%'")
        return self


def parse_strategy(value: str | dict[str, Any] | None) -> Strategy:
    """A strategy from a preset name (CodeDeploy's), a type name, or a full object."""
    if value is None:
        return Strategy()
    if isinstance(value, dict):
        return Strategy.model_validate(value)
    if value in ("AllAtOnce", "CodeDeployDefault.LambdaAllAtOnce"):
        return Strategy(type="all-at-once", preset=value)
    name = value.removeprefix("CodeDeployDefault.Lambda")
    if m := CANARY_RE.match(name):
        return Strategy(type="canary", percentage=int(m[1]), interval_seconds=int(m[2]) * 60, preset=value)
    if m := LINEAR_RE.match(name):
        return Strategy(type="linear", percentage=int(m[1]), interval_seconds=int(m[2]) * 60, preset=value)
    return Strategy(type=value)  # a bare type name; pydantic names the allowed ones if it is wrong


def _batch(strategy: Strategy, replicas: int) -> int:
    size = strategy.batch_size
    if size is None:
        return 1
    if isinstance(size, str):
        return max(1, math.ceil(replicas * int(size[:-1]) / 100))
    return max(1, min(size, replicas))


def compile_plan(strategy: Strategy, *, replicas: int, first_deploy: bool = False) -> list[dict[str, Any]]:
    """The steps a strategy takes for a component running ``replicas`` instances."""
    analysis = {"kind": "analysis", "analysis": strategy.analysis.model_dump()}
    steps: list[dict[str, Any]]
    if first_deploy:  # nothing serves yet: start, send everything, check
        return [{"kind": "prepare"}, {"kind": "set_weight", "weight": 100}, {"kind": "health"}]
    if strategy.type == "all-at-once":
        # recreate: stop the old instances first, then start the new ones
        steps = [
            {"kind": "replicas", "revision": "stable", "replicas": 0},
            {"kind": "prepare"},
            {"kind": "set_weight", "weight": 100},
            {"kind": "health"},
        ]
    elif strategy.type in ("canary", "linear"):
        pct, wait = strategy.percentage or 10, strategy.interval_seconds or 0
        weights = [pct] if strategy.type == "canary" else list(range(pct, 100, pct))
        steps = [{"kind": "prepare"}]
        for w in weights:
            steps.append({"kind": "set_weight", "weight": w})
            if wait:
                steps.append({"kind": "pause", "seconds": wait})
            steps.append(analysis)
        steps.append({"kind": "set_weight", "weight": 100})
    elif strategy.type == "blue-green":
        steps = [{"kind": "prepare"}, {"kind": "health"}]
        if strategy.approval:
            steps.append({"kind": "approval"})
        steps.append({"kind": "set_weight", "weight": 100})
        if strategy.keep_old_seconds:
            steps.append({"kind": "pause", "seconds": strategy.keep_old_seconds})
    elif strategy.type == "rolling":
        # batch by batch: with max_unavailable >= batch the old instances go first (no surge),
        # otherwise the new batch starts and passes its health check before old ones stop
        batch, new, steps = _batch(strategy, replicas), 0, []
        shrink_first = strategy.max_unavailable >= batch
        while new < replicas:
            nxt = min(replicas, new + batch)
            shrink = {"kind": "replicas", "revision": "stable", "replicas": replicas - nxt}
            grow = (
                {"kind": "prepare", "replicas": nxt}
                if new == 0
                else {"kind": "replicas", "revision": "candidate", "replicas": nxt}
            )
            steps += (
                [shrink, grow, {"kind": "health"}] if shrink_first else [grow, {"kind": "health"}, shrink]
            )
            new = nxt
        steps.append(analysis)
    else:  # custom
        steps = [s.model_dump(exclude_none=True) for s in strategy.steps or []]
        if not steps or steps[0]["kind"] != "prepare":
            steps.insert(0, {"kind": "prepare"})
        if not any(s["kind"] == "set_weight" and s["weight"] == 100 for s in steps):
            steps.append({"kind": "set_weight", "weight": 100})
    for s in steps:
        if s["kind"] == "analysis" and "analysis" not in s:
            s["analysis"] = strategy.analysis.model_dump()
    return [_whole_seconds(s) for s in steps if not (s["kind"] == "pause" and s.get("seconds") == 0)]


def _whole_seconds(step: dict[str, Any]) -> dict[str, Any]:
    """States Language takes whole seconds for Wait and TimeoutSeconds: round fractions up."""
    if step.get("seconds") is not None:
        step = {**step, "seconds": max(1, math.ceil(step["seconds"]))}
    if step.get("analysis"):
        a = step["analysis"]
        step = {**step, "analysis": {**a, "interval_seconds": math.ceil(a["interval_seconds"])}}
    return step


class Verdict(BaseModel):
    """One measurement's judgement."""

    outcome: Literal["pass", "fail", "no_data"]
    reasons: list[str] = Field(default_factory=list)


def judge(analysis: Analysis, metrics: dict[str, Any], health: dict[str, Any] | None) -> Verdict:
    """Judge one measurement (metrics as ``Metrics.to_dict``, health as ``HealthResult.to_dict``)."""
    reasons: list[str] = []
    if analysis.health and health is not None and not health["healthy"]:
        reasons.append(f"{health['failing']} of {health['checked']} instances unhealthy")
    if metrics.get("alarms_in_alarm"):
        reasons.append("alarms in ALARM: " + ", ".join(metrics["alarms_in_alarm"]))
    if metrics.get("alerts_firing"):
        reasons.append("alert rules firing: " + ", ".join(metrics["alerts_firing"]))
    if metrics["requests"] < analysis.min_requests or metrics.get("error_rate") is None:
        if reasons:
            return Verdict(outcome="fail", reasons=reasons)
        return Verdict(outcome="no_data", reasons=[f"{metrics['requests']} requests in the window"])
    if analysis.max_error_rate is not None and metrics["error_rate"] > analysis.max_error_rate:
        reasons.append(f"error rate {metrics['error_rate']:.3f} > {analysis.max_error_rate}")
    if (
        analysis.max_p99_ms is not None
        and metrics.get("p99_ms") is not None
        and metrics["p99_ms"] > analysis.max_p99_ms
    ):
        reasons.append(f"p99 {metrics['p99_ms']:.1f} ms > {analysis.max_p99_ms} ms")
    return Verdict(outcome="fail" if reasons else "pass", reasons=reasons)


def conclude(analysis: Analysis, verdicts: list[str]) -> Literal["pass", "fail", "continue"]:
    """After each measurement: fail once the limits are passed, pass after the last one."""
    failures = verdicts.count("fail")
    if failures > analysis.failure_limit:
        return "fail"
    if analysis.consecutive_failure_limit is not None:
        run = 0
        for v in reversed(verdicts):
            if v != "fail":
                break
            run += 1
        if run >= analysis.consecutive_failure_limit:
            return "fail"
    return "pass" if len(verdicts) >= analysis.measurements else "continue"


# -- capability tokens -------------------------------------------------------------------------------
#
# A strategy workflow's internal tasks act on one deployment only with that deployment's capability:
# a random token put into the strategy execution's input (field ``capability``), passed by the shipped
# ASL to every internal task, and stored on the deployment record only as a SHA-256 digest.

CAPABILITY_FIELD = "capability"
REDACTED = "[redacted]"


def new_capability() -> tuple[str, str]:
    """A fresh capability token and the digest to store."""
    import secrets

    token = secrets.token_urlsafe(32)
    return token, capability_digest(token)


def capability_digest(token: str) -> str:
    import hashlib

    return hashlib.sha256(token.encode()).hexdigest()


def capability_matches(token: Any, digests: list[str]) -> bool:
    """Whether ``token`` is one of the capabilities stored (constant-time; every digest compared)."""
    import hmac

    if not isinstance(token, str) or not token:
        return False
    given = capability_digest(token)
    found = False
    for digest in digests:
        found = hmac.compare_digest(given, str(digest)) | found
    return found


def redact(value: Any, secrets_: list[str]) -> Any:
    """``value`` with every occurrence of each secret string replaced (also inside JSON text)."""
    import json

    wanted = [s for s in secrets_ if isinstance(s, str) and len(s) >= 8]
    if not wanted:
        return value
    text = json.dumps(value)
    if not any(s in text for s in wanted):
        return value
    for s in wanted:
        text = text.replace(s, REDACTED)
    return json.loads(text)
