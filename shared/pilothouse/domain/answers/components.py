"""Components: their records, events and health, and their metrics and autoscaling."""

from __future__ import annotations

from typing import Any

from pydantic import RootModel

from pilothouse.domain.answers.core import Answer, OperationAnswer


class ReplicaHealthAnswer(Answer):
    """One replica as the last health sweep saw it."""

    id: str
    pid: int | None = None
    port: int | None = None
    revision: str | None = None
    healthy: bool
    last_probe: str | None = None
    last_error: str | None = None


class HealthAnswer(Answer):
    """A component's health (``Healthy | Degraded | Unhealthy | Unknown``) and its replicas."""

    status: str
    since: str | None = None
    checked_at: str | None = None
    replicas: list[ReplicaHealthAnswer] = []


class ComponentAnswer(Answer):
    """A component as the API shows it."""

    name: str
    state: str
    allowed_commands: list[str]
    environment: str
    provider: str
    version: str | None
    replicas: int
    url: str | None
    last_error: dict[str, Any] | None
    operation: OperationAnswer | None
    restoring: bool
    spec: dict[str, Any]
    placement: dict[str, Any] | None
    created_at: str
    updated_at: str
    record_version: int
    health: HealthAnswer


class ComponentPage(Answer):
    items: list[ComponentAnswer]
    next_cursor: str | None


class ComponentEvent(Answer):
    """One transition of a component (``from``/``to`` states, who, and the command's details)."""

    id: str
    component: str
    at: str
    type: str
    actor: str | None = None
    request_id: str | None = None


class ComponentEventPage(Answer):
    items: list[ComponentEvent]
    next_cursor: str | None


class MetricsAccepted(Answer):
    """How many datapoints a batch wrote."""

    accepted: int


class MetricPointAnswer(Answer):
    timestamp: str
    value: float | None


class MetricSeriesAnswer(Answer):
    component: str
    name: str
    key: str
    dimensions: dict[str, str]
    unit: str


class ComponentMetrics(Answer):
    """A component's series (no ``metric`` asked), or one statistic of a metric per period."""

    component: str
    metrics: list[MetricSeriesAnswer] | None = None
    metric: str | None = None
    stat: str | None = None
    period: int | None = None
    start: str | None = None
    end: str | None = None
    points: list[MetricPointAnswer] | None = None


class PrometheusExposition(RootModel[str]):
    """The Prometheus text exposition format, version 0.0.4."""


class AutoscalingAnswer(Answer):
    """A component's autoscaling policy (None: it has none), bounds, last scalings and decisions."""

    component: str
    policy: dict[str, Any] | None
    min: int
    max: int
    replicas: int
    updated_at: str | None = None
    updated_by: str | None = None
    last_scale_out: float | None = None
    last_scale_in: float | None = None
    decisions: list[dict[str, Any]]
