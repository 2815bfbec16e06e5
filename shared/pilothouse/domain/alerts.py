"""Alert rules and how their state moves (pure: no I/O).

Four kinds of rule, one state machine:

* ``metric`` — CloudWatch alarm semantics: a statistic of a metric per ``period`` (or the ratio of
  two metrics' statistics, ``errors`` / ``requests``, as CloudWatch metric math), compared with a
  threshold; of the last ``evaluation_periods`` datapoints, ``datapoints_to_alarm`` breaching fire
  it. Missing datapoints count as the rule's ``missing_data`` says (``missing``: left out, and
  with none at all the state stays; ``ignore``: the state stays; ``breaching``; ``not_breaching``).
* ``health`` — the component has been Unhealthy for ``for_minutes``.
* ``event`` — an event of the feed (``deployment.rolled_back``, ``deployment.failed``...) fires it;
  a ``resolve_on`` event or ``resolve_after_minutes`` resolves it.
* ``backup_age`` — the newest backup (learnt from ``backup.*`` events) is older than ``rpo_minutes``.

States (Prometheus' inactive → pending → firing, resolved after firing):

    >>> next_state("OK", "partial"), next_state("PENDING", "breaching"), next_state("FIRING", "ok")
    ('PENDING', 'FIRING', 'RESOLVED')
    >>> next_state("RESOLVED", "ok"), next_state("PENDING", "ok"), next_state("FIRING", "unknown")
    ('RESOLVED', 'OK', 'FIRING')
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pilothouse.domain.metrics import STAT_PATTERN, check_stat
from pilothouse.domain.notifications import EventPattern

State = Literal["OK", "PENDING", "FIRING", "RESOLVED"]
#: what one evaluation concluded: the condition holds (breaching), holds in part (partial: some
#: breaching datapoints, fewer than needed; or unhealthy for less than for_minutes), not at all,
#: or could not say (unknown: no data)
Condition = Literal["breaching", "partial", "ok", "unknown"]

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanThreshold": operator.gt,
    "GreaterThanOrEqualToThreshold": operator.ge,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=_NAME, description="unique, lower-case (not 'rules'); deployment analyses name it"
    )
    description: str = Field(default="", max_length=500)
    severity: Literal["critical", "warning", "info"] = "warning"

    @field_validator("name")
    @classmethod
    def _not_a_route(cls, value: str) -> str:
        if value == "rules":
            raise ValueError("'rules' is reserved (GET /v1/alerts/rules lists the rules)")
        return value


class MetricRule(_Rule):
    kind: Literal["metric"]
    component: str = Field(pattern=_NAME)
    metric: str = Field(min_length=1, max_length=200, description="e.g. error_rate, requests, latency_ms")
    denominator: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="metric math: divide by this metric's same statistic per period (errors / requests: "
        "the error rate); a period where it is 0 or missing is missing",
    )
    stat: str = Field(
        default="Average",
        pattern=STAT_PATTERN,
        description="Average, Sum, Minimum, Maximum, SampleCount, p50, p99.9...",
    )
    comparator: Literal[
        "GreaterThanThreshold",
        "GreaterThanOrEqualToThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    ]
    threshold: float
    period: int = Field(default=60, ge=60, le=86400, multiple_of=60, description="seconds per datapoint")
    evaluation_periods: int = Field(default=1, ge=1, le=100)
    datapoints_to_alarm: int | None = Field(
        default=None, ge=1, le=100, description="default: evaluation_periods"
    )
    missing_data: Literal["missing", "ignore", "breaching", "not_breaching"] = "missing"
    delay_seconds: int = Field(
        default=60,
        ge=0,
        le=3600,
        description="how late datapoints may arrive: the window ends this long before now, at a whole "
        "period (collection runs every minute, so the last minute is complete only after it)",
    )
    dimensions: dict[str, str] = Field(default_factory=dict, max_length=10)

    @field_validator("stat")
    @classmethod
    def _stat(cls, value: str) -> str:
        return check_stat(value)

    @model_validator(mode="after")
    def _m_of_n(self) -> MetricRule:
        if self.datapoints_to_alarm is not None and self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError("datapoints_to_alarm cannot exceed evaluation_periods")
        return self


class HealthRule(_Rule):
    kind: Literal["health"]
    component: str = Field(pattern=_NAME)
    for_minutes: float = Field(default=5, ge=0, le=1440, description="Unhealthy this long fires it")


class EventRule(_Rule):
    kind: Literal["event"]
    component: str | None = Field(default=None, pattern=_NAME, description="none: any component")
    environment: Literal["development", "staging", "production"] | None = None
    #: the same pattern syntax as subscriptions
    events: list[EventPattern] = Field(
        default_factory=lambda: ["deployment.rolled_back", "deployment.failed"], min_length=1, max_length=20
    )
    resolve_on: list[EventPattern] = Field(default_factory=lambda: ["deployment.succeeded"], max_length=20)
    resolve_after_minutes: float | None = Field(default=60, gt=0, le=10080)


class BackupAgeRule(_Rule):
    kind: Literal["backup_age"]
    rpo_minutes: float = Field(gt=0, le=525600, description="fire when the newest backup is older")
    events: list[str] = Field(
        default_factory=lambda: ["backup.succeeded", "backup.completed", "backup.finished"], min_length=1
    )


RuleRequest = Annotated[MetricRule | HealthRule | EventRule | BackupAgeRule, Field(discriminator="kind")]


class RuleEnvelope(BaseModel):
    """Validates any rule by its ``kind``."""

    rule: RuleRequest


def parse_rule(data: dict[str, Any]) -> MetricRule | HealthRule | EventRule | BackupAgeRule:
    return RuleEnvelope.model_validate({"rule": data}).rule


def next_state(current: str, condition: Condition) -> State:
    """The state after one evaluation's ``condition``."""
    if condition == "unknown":
        return current  # type: ignore[return-value]
    if condition == "breaching":
        return "FIRING"
    if condition == "partial":
        return (
            "RESOLVED" if current == "FIRING" else ("PENDING" if current in ("OK", "PENDING") else "PENDING")
        )
    return "RESOLVED" if current in ("FIRING", "RESOLVED") else "OK"


def evaluate_metric(rule: dict[str, Any], values: list[float | None]) -> tuple[Condition, dict[str, Any]]:
    """Judge the last ``evaluation_periods`` datapoints (oldest first; None: missing) as CloudWatch
    does; the condition and the values that decided it."""
    n = rule["evaluation_periods"]
    m = rule.get("datapoints_to_alarm") or n
    missing: list[float | None] = [None] * max(0, n - len(values))
    window = missing + values[-n:]
    compare = COMPARATORS[rule["comparator"]]
    treatment = rule.get("missing_data", "missing")
    breaching = 0
    present = 0
    for v in window:
        if v is None:
            if treatment == "breaching":
                breaching += 1
                present += 1
            elif treatment == "not_breaching":
                present += 1
            continue
        present += 1
        if compare(v, rule["threshold"]):
            breaching += 1
    decided = {
        "values": window,
        "threshold": rule["threshold"],
        "comparator": rule["comparator"],
        "breaching": breaching,
        "datapoints_to_alarm": m,
        "evaluation_periods": n,
    }
    if present == 0:
        return "unknown", {**decided, "reason": "no data"}
    if breaching >= m:
        return "breaching", decided
    # CloudWatch's "missing" treatment judges only the datapoints there are; too few to reach M is
    # still OK when none of them breach
    return ("partial" if breaching else "ok"), decided


def evaluate_health(
    rule: dict[str, Any], health: dict[str, Any] | None, now: float, since_epoch: float | None
) -> tuple[Condition, dict[str, Any]]:
    """Unhealthy for ``for_minutes`` → breaching; Unhealthy for less → partial; otherwise ok; a
    component that reports no health → unknown."""
    if not health or not health.get("status"):
        return "unknown", {"health": None}
    status = health["status"]
    if status != "Unhealthy":
        return ("unknown" if status == "Unknown" else "ok"), {"health": status}
    minutes = (now - since_epoch) / 60 if since_epoch is not None else 0.0
    decided = {"health": status, "unhealthy_minutes": round(minutes, 2), "for_minutes": rule["for_minutes"]}
    return ("breaching" if minutes >= rule["for_minutes"] else "partial"), decided


def evaluate_backup_age(
    rule: dict[str, Any], newest_backup_epoch: float | None, now: float
) -> tuple[Condition, dict[str, Any]]:
    """The newest backup older than the RPO → breaching; no backup known yet → unknown."""
    if newest_backup_epoch is None:
        return "unknown", {"reason": "no backup seen yet"}
    age = (now - newest_backup_epoch) / 60
    decided = {"backup_age_minutes": round(age, 2), "rpo_minutes": rule["rpo_minutes"]}
    return ("breaching" if age > rule["rpo_minutes"] else "ok"), decided
