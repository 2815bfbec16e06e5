"""The whole fleet in the Prometheus text exposition format, so an existing Prometheus scrapes
Pilothouse (``GET /v1/metrics/prometheus``), written by ``prometheus_client``.

Each series' last complete minute appears as ``pilothouse_metric{component, metric, stat, <dimensions>}``
(stats Sum, Average, Minimum, Maximum, SampleCount, p50, p90, p99), and each component's lifecycle
as ``pilothouse_component_replicas`` and ``pilothouse_component_state`` (1 for its current state).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pilothouse.domain.metrics import statistic
from pilothouse.repositories.metrics import MINUTE, MetricRepository

if TYPE_CHECKING:
    from pilothouse.services.context import ServiceContext

EXPOSED_STATS = ("Sum", "Average", "Minimum", "Maximum", "SampleCount", "p50", "p90", "p99")
_RESERVED = {"component", "metric", "stat"}


def _label(name: str) -> str:
    """A dimension name as a Prometheus label name (``[a-zA-Z_][a-zA-Z0-9_]*``, not reserved)."""
    label = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    if label[:1].isdigit() or label.startswith("__") or label in _RESERVED:
        label = f"dim_{label.lstrip('_')}"
    return label


def _samples(ctx: ServiceContext) -> list[tuple[dict[str, str], str, float]]:
    repo = MetricRepository(ctx.store)
    now = int(ctx.clock.time())
    last = now - now % MINUTE - MINUTE  # the last complete minute
    out = []
    for s in repo.series():
        found = repo.rollups(MINUTE, s["component"], s["name"], s["key"], last, last + MINUTE)
        if not found:
            continue
        labels = {"component": s["component"], "metric": s["name"]}
        labels.update({_label(k): v for k, v in s["dimensions"].items()})
        for stat in EXPOSED_STATS:
            value = statistic(found[0], stat)
            if value is not None:
                out.append((labels, stat, value))
    return out


def exposition(ctx: ServiceContext) -> tuple[str, str]:
    """(the exposition text, its content type)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
    from prometheus_client.metrics_core import Metric

    from pilothouse.repositories.components import ComponentRepository

    class Fleet:
        def collect(self) -> Any:
            series = Metric("pilothouse_metric", "The last complete minute of each metric series", "gauge")
            for labels, stat, value in _samples(ctx):
                series.add_sample("pilothouse_metric", {**labels, "stat": stat}, value)
            replicas = Metric("pilothouse_component_replicas", "Replicas of each component", "gauge")
            state = Metric("pilothouse_component_state", "Each component's lifecycle state (1)", "gauge")
            for item in ComponentRepository(ctx.store).all():
                data = item.data
                replicas.add_sample(
                    "pilothouse_component_replicas", {"component": data["name"]}, data["replicas"]
                )
                state.add_sample(
                    "pilothouse_component_state", {"component": data["name"], "state": data["state"]}, 1
                )
            yield from (series, replicas, state)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fleet())
    return generate_latest(registry).decode(), CONTENT_TYPE_LATEST
