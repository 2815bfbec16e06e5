"""The auto scaler's policies and its decision, pure (issue 11 §5).

A policy combines, as Application Auto Scaling and Kubernetes' HPA do:

* **target tracking** — keep a metric at a target: ``desired = ceil(current x value / target)``
  (HPA's rule), not acting within a tolerance band around the target;
* **step scaling** — where the metric lies among steps, a change (``+2``, ``-1``, ``+50 %``, or an
  exact count);
* **scheduled scaling** — cron expressions in a time zone that set the min and max from the moment
  they fire until the next one fires.

The largest recommendation wins (scale out if any policy asks, scale in only when all agree), within
the spec's min and max (narrowed by the schedule in force), subject to the cooldowns: no scale-out
within ``scale_out_cooldown`` of the last scale-out, no scale-in within ``scale_in_cooldown`` of
the last scaling of either kind.

    >>> p = AutoscalePolicy(target_tracking=[TargetTracking(metric="requests_per_replica", target=10)])
    >>> d = decide(p, current=2, low=1, high=10, readings={"requests_per_replica": 25.0}, now=1000.0)
    >>> d.desired, d.action
    (5, 'scale_out')
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pilothouse.domain.cron import Cron, zone
from pilothouse.domain.metrics import METRIC_NAME, check_stat

#: metrics the auto scaler knows how to read, beside any collected metric named with a statistic
BUILTIN = {
    "requests_per_replica": "requests per second per replica (router or CloudWatch, the last minutes)",
    "p99_latency_ms": "the p99 of latency_ms over the last minutes",
    "error_rate": "errors / requests over the last minutes",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricRef(_Strict):
    """A built-in metric (``requests_per_replica``...) or a collected one with its statistic."""

    metric: str = Field(max_length=255)
    stat: str = Field(default="Average", max_length=16)
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=10)

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if value not in BUILTIN and not METRIC_NAME.match(value):
            raise ValueError(f"one of {', '.join(BUILTIN)} or a metric name")
        return value

    @field_validator("stat")
    @classmethod
    def _stat(cls, value: str) -> str:
        return check_stat(value)

    @property
    def reading(self) -> str:
        """The key of this metric's value among the readings."""
        if self.metric in BUILTIN:
            return self.metric
        dims = ",".join(f"{k}={v}" for k, v in sorted(self.dimensions.items()))
        return f"{self.metric}:{self.stat}" + (f"{{{dims}}}" if dims else "")


class TargetTracking(MetricRef):
    target: float = Field(gt=0)
    #: no action while value/target lies within 1 ± tolerance (HPA's default is 0.1)
    tolerance: float = Field(default=0.1, ge=0, le=0.5)


class Step(_Strict):
    """A band of the metric ``[lower, upper)`` (None: unbounded) and what to do in it."""

    lower: float | None = None
    upper: float | None = None
    change: float

    @model_validator(mode="after")
    def _band(self) -> Step:
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError("lower must be below upper")
        return self


class StepScaling(MetricRef):
    adjustment: Literal["change", "percent", "exact"] = "change"
    steps: list[Step] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _no_overlap(self) -> StepScaling:
        bands = sorted(
            (s.lower if s.lower is not None else -math.inf, s.upper or math.inf) for s in self.steps
        )
        for (_, upper), (lower, _) in zip(bands, bands[1:], strict=False):
            if lower < upper:
                raise ValueError("steps must not overlap")
        return self


class ScheduledAction(_Strict):
    """From each time ``cron`` fires (in ``timezone``) until another schedule fires: these bounds."""

    name: str = Field(default="", max_length=64)
    cron: str = Field(max_length=120)
    timezone: str = Field(default="UTC", max_length=64)
    min: int | None = Field(default=None, ge=0, le=1000)
    max: int | None = Field(default=None, ge=0, le=1000)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        Cron.parse(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _bounds(self) -> ScheduledAction:
        if self.min is None and self.max is None:
            raise ValueError("a scheduled action sets min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class AutoscalePolicy(_Strict):
    """What ``PUT /v1/components/{name}/autoscaling`` takes."""

    enabled: bool = True
    target_tracking: list[TargetTracking] = Field(default_factory=list, max_length=5)
    step_scaling: list[StepScaling] = Field(default_factory=list, max_length=5)
    scheduled: list[ScheduledAction] = Field(default_factory=list, max_length=20)
    scale_out_cooldown: int = Field(default=60, ge=0, le=86400, description="seconds")
    scale_in_cooldown: int = Field(default=300, ge=0, le=86400, description="seconds")
    #: the minutes of metrics a decision reads
    window_minutes: int = Field(default=2, ge=1, le=60)

    @model_validator(mode="after")
    def _something(self) -> AutoscalePolicy:
        if not (self.target_tracking or self.step_scaling or self.scheduled):
            raise ValueError("a policy needs target_tracking, step_scaling or scheduled")
        return self

    def metrics(self) -> list[MetricRef]:
        return [*self.target_tracking, *self.step_scaling]


class Decision(BaseModel):
    desired: int
    current: int
    #: scale_out | scale_in | hold | cooldown
    action: str
    reason: str
    low: int
    high: int
    recommendations: list[dict[str, Any]] = []


def bounds(policy: AutoscalePolicy, low: int, high: int, now: float) -> tuple[int, int, str | None]:
    """The spec's [low, high], narrowed by the scheduled action that fired last (and its name)."""
    moment = datetime.fromtimestamp(now, UTC)
    latest: tuple[datetime, ScheduledAction] | None = None
    for action in policy.scheduled:
        fired = Cron.parse(action.cron).last_fire(moment, action.timezone)
        if fired is not None and (latest is None or fired > latest[0]):
            latest = (fired, action)
    if latest is None:
        return low, high, None
    action = latest[1]
    new_low = min(max(action.min if action.min is not None else low, low), high)
    new_high = max(min(action.max if action.max is not None else high, high), new_low)
    return new_low, new_high, action.name or action.cron


def _tracked(t: TargetTracking, current: int, value: float) -> tuple[int, str] | None:
    """The desired count, or None when the reading (or its ratio to the target) is not finite."""
    ratio = value / t.target
    if not math.isfinite(ratio):
        return None
    if abs(ratio - 1) <= t.tolerance:
        return current, f"{t.metric} {value:.3g} is within {t.tolerance:.0%} of its target {t.target:g}"
    scaled = max(current, 1) * ratio if ratio > 1 else current * ratio
    if not math.isfinite(scaled):
        return None
    return math.ceil(scaled), f"{t.metric} {value:.3g} against a target of {t.target:g}"


def _stepped(s: StepScaling, current: int, value: float) -> tuple[int, str] | None:
    for step in s.steps:
        if (step.lower is None or value >= step.lower) and (step.upper is None or value < step.upper):
            if s.adjustment == "exact":
                desired = int(step.change)
            elif s.adjustment == "percent":
                delta = current * step.change / 100
                desired = current + (math.ceil(delta) if delta > 0 else math.floor(delta))
            else:
                desired = current + int(step.change)
            return (
                desired,
                f"{s.metric} {value:.3g} is in [{step.lower}, {step.upper}): {s.adjustment} {step.change:g}",
            )
    return None


def decide(
    policy: AutoscalePolicy,
    *,
    current: int,
    low: int,
    high: int,
    readings: dict[str, float | None],
    now: float,
    last_scale_out: float | None = None,
    last_scale_in: float | None = None,
) -> Decision:
    """What to do now. ``readings`` holds each metric's value (None: no data, no opinion)."""
    low, high, schedule = bounds(policy, low, high, now)
    recs: list[dict[str, Any]] = []
    unusable: list[str] = []  # readings that are not finite numbers: no data, said so
    for t in policy.target_tracking:
        value = readings.get(t.reading)
        tracked = _tracked(t, current, value) if value is not None and math.isfinite(value) else None
        if value is not None and tracked is None:
            unusable.append(t.reading)
        if tracked is not None:
            desired, why = tracked
            recs.append(
                {
                    "policy": "target_tracking",
                    "metric": t.reading,
                    "value": value,
                    "desired": desired,
                    "reason": why,
                }
            )
    for s in policy.step_scaling:
        value = readings.get(s.reading)
        if value is not None and not math.isfinite(value):
            unusable.append(s.reading)
            value = None
        found = _stepped(s, current, value) if value is not None else None
        if found is not None:
            recs.append(
                {
                    "policy": "step_scaling",
                    "metric": s.reading,
                    "value": value,
                    "desired": found[0],
                    "reason": found[1],
                }
            )
    if recs:
        best = max(recs, key=lambda r: r["desired"])
        wanted, reason = best["desired"], best["reason"]
    else:
        wanted, reason = current, "no metric data: holding"
    if unusable:
        reason += f"; not a finite number, treated as missing data: {', '.join(unusable)}"
    desired = min(max(wanted, low), high)
    if desired != wanted:
        reason += f"; kept within [{low}, {high}]"
    if schedule is not None:
        reason += f" (schedule {schedule} in force)"
    out = {"current": current, "low": low, "high": high, "recommendations": recs}
    if desired > current:
        last = last_scale_out
        if last is not None and now - last < policy.scale_out_cooldown:
            left = policy.scale_out_cooldown - (now - last)
            return Decision(
                desired=current,
                action="cooldown",
                reason=f"{reason}; scale-out cooldown, {left:.0f} s left",
                **out,
            )
        return Decision(desired=desired, action="scale_out", reason=reason, **out)
    if desired < current:
        last = max((t for t in (last_scale_out, last_scale_in) if t is not None), default=None)
        if last is not None and now - last < policy.scale_in_cooldown:
            left = policy.scale_in_cooldown - (now - last)
            return Decision(
                desired=current,
                action="cooldown",
                reason=f"{reason}; scale-in cooldown, {left:.0f} s left",
                **out,
            )
        return Decision(desired=desired, action="scale_in", reason=reason, **out)
    return Decision(desired=current, action="hold", reason=reason, **out)
