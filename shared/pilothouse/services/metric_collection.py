"""The collection sweep (every minute): measure every running component without its help, ingest
Pilothouse's own EMF, and compact finished hours (issue 11 §1).

For each component with a placement, over the complete minutes since its last collection (at most
the last 15): the provider's own figures (the local router's requests, errors and latency; a Lambda
function's CloudWatch metrics), and a Prometheus scrape when its spec declares ``metrics``. The
datapoints are ingested first and the component's cursor advanced after: a sweep that dies in
between is redone by the next one, and the batch ids make the redo count nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pilothouse.domain.metrics import Datapoint
from pilothouse.repositories.components import ComponentRepository
from pilothouse.repositories.metrics import MetricRepository
from pilothouse.services import metrics
from pilothouse.services.metric_rollups import compact

if TYPE_CHECKING:
    from pilothouse.services.context import ServiceContext

logger = logging.getLogger(__name__)

#: states in which a component has something serving to measure
MEASURED = ("Running", "Scaling", "Updating")
#: the furthest back a sweep reaches for a component (a longer gap stays a gap)
CATCH_UP_S = 15 * 60


def _batches(points: Sequence[Datapoint]) -> list[Sequence[Datapoint]]:
    return [points[i : i + metrics.MAX_BATCH] for i in range(0, len(points), metrics.MAX_BATCH)]


def _provider_points(
    ctx: ServiceContext, data: dict[str, Any], since: float, until: float
) -> list[Datapoint]:
    from pilothouse.ports.providers import Placement

    provider = ctx.provider(data["spec"]["provider"])
    collect_metrics = getattr(provider, "collect_metrics", None)
    if collect_metrics is None:
        return []
    raw = collect_metrics(Placement.from_dict(data["placement"]), since, until)
    return [
        Datapoint(
            data["name"],
            r["name"],
            r["value"],
            datetime.fromtimestamp(r["timestamp"], UTC),
            r.get("unit", "None"),
            r.get("dimensions") or {},
        )
        for r in raw
    ]


def _scrape_points(
    ctx: ServiceContext,
    data: dict[str, Any],
    spec_metrics: dict[str, Any],
    now: float,
    outcome: dict[str, Any],
) -> list[Datapoint]:
    """Scrape each replica on its own address with a ``replica`` label where the provider names
    its replicas, else the component's URL; every target's ``up``. A failed target (a dead
    replica: no request is sent to it) is recorded in ``outcome["scrape_errors"]`` and the others
    still count."""
    from pilothouse.ports.providers import Placement
    from pilothouse.services.metric_scrape import Scrape, scrape, up

    name = data["name"]
    provider = ctx.provider(data["spec"]["provider"])
    endpoints = getattr(provider, "replica_endpoints", None)
    targets: list[tuple[str, str, bool, dict[str, str]]] = []
    if endpoints is not None and data.get("placement"):
        for ep in endpoints(Placement.from_dict(data["placement"])):
            targets.append((ep.id, ep.url, ep.alive, {"replica": ep.id}))
    elif data.get("url"):
        targets.append(("component", data["url"], True, {}))
    points: list[Datapoint] = []
    errors: dict[str, str] = {}
    skipped = 0
    policy = ctx.settings.outbound_policy()
    for target, url, alive, labels in targets:
        if alive:
            found = scrape(name, url, spec_metrics, policy=policy, now=now, labels=labels)
        else:
            found = Scrape(error="the replica's process has exited")
        points.extend(found.datapoints)
        points.append(up(name, found, now, labels))
        skipped += found.skipped
        if found.error:
            errors[target] = found.error
            logger.info("scrape failed", extra={"component": name, "target": target, "error": found.error})
    if errors:
        outcome["scrape_error"] = next(iter(errors.values()))
        outcome["scrape_errors"] = errors
    if skipped:
        outcome["scrape_skipped"] = skipped
    return points


def collect_component(ctx: ServiceContext, data: dict[str, Any], until: float) -> dict[str, Any]:
    """Collect one component's complete minutes up to ``until``; what was found."""

    name = data["name"]
    repo = MetricRepository(ctx.store)
    cursor = repo.cursor(name)
    since = max(cursor.data["until"] if cursor else until - 60, until - CATCH_UP_S)
    if since >= until:
        return {"component": name, "datapoints": 0}
    points = _provider_points(ctx, data, since, until)
    outcome: dict[str, Any] = {"component": name}
    spec_metrics = data["spec"].get("metrics")
    if spec_metrics:
        points.extend(_scrape_points(ctx, data, spec_metrics, until - 1, outcome))
    for i, batch in enumerate(_batches(points)):  # a redo of this sweep names its batches alike
        metrics.ingest(ctx, batch, batch=metrics.batch_id("collect", name, repr(since), repr(until), str(i)))
    repo.advance_cursor(name, until, cursor)
    outcome["datapoints"] = len(points)
    return outcome


def collect(ctx: ServiceContext, *, own: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """One sweep: every measured component, Pilothouse's own EMF documents ``own``, compaction."""
    now = ctx.clock.time()
    until = float(int(now) - int(now) % 60)
    report: dict[str, Any] = {"components": 0, "datapoints": 0, "failed": []}
    for record in ComponentRepository(ctx.store).each():
        data = record.data
        if data["state"] not in MEASURED or not data.get("placement"):
            continue
        try:
            outcome = collect_component(ctx, data, until)
        except Exception as exc:  # noqa: BLE001 - one component never stops the sweep
            logger.warning("metrics collection failed", extra={"component": data["name"], "error": str(exc)})
            report["failed"].append(
                {"component": data["name"], "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            )
            continue
        report["components"] += 1
        report["datapoints"] += outcome["datapoints"]
        for key in ("scrape_error", "scrape_skipped"):
            if key in outcome:
                report.setdefault("scrapes", []).append(outcome)
                break
    report["own"] = ingest_own(ctx, own)
    report["compacted"] = compact(ctx)
    return report


def ingest_own(ctx: ServiceContext, documents: Sequence[dict[str, Any]]) -> int:
    """Ingest Pilothouse's own functions' EMF documents (component ``pilothouse``); a document that
    does not parse is dropped with a warning (it is our own output)."""
    from pilothouse.domain.emf import EmfError, datapoints

    points: list[Datapoint] = []
    for doc in documents:
        try:
            points.extend(datapoints(doc, default_component="pilothouse"))
        except EmfError as exc:
            logger.warning("dropped an EMF document of our own", extra={"error": str(exc)})
    now = ctx.clock.time()
    fresh = [p for p in points if now - metrics.MAX_AGE_S < p.timestamp.timestamp() <= now + 60]
    for batch in _batches(fresh):  # the same documents again (a redelivery) make the same batches
        lines = [
            f"{p.component}|{p.name}|{sorted(p.dimensions.items())}|{p.value!r}|{p.timestamp}" for p in batch
        ]
        metrics.ingest(ctx, batch, batch=metrics.batch_id("own", *lines))
    return len(fresh)
