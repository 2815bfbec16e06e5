"""The alert sweep (every minute): evaluate every metric, health and backup-age rule, resolve event
rules whose ``resolve_after_minutes`` has passed, then dispatch the feed so firing and resolved
notifications leave in the same run.

A metric rule reads ``evaluation_periods`` datapoints of ``period`` seconds each, ending at the
last whole period, from the metrics store (:func:`pilothouse.services.metrics.query`), and judges
them as a CloudWatch alarm does (:func:`pilothouse.domain.alerts.evaluate_metric`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from pilothouse.clock import parse_iso
from pilothouse.domain.alerts import evaluate_backup_age, evaluate_health, evaluate_metric
from pilothouse.domain.metrics import at, epoch
from pilothouse.errors import NotFound
from pilothouse.repositories.components import ComponentRepository
from pilothouse.services import alerts, metrics
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)


def _series(services: ServiceContext, rule: dict[str, Any], metric: str, now: float) -> list[float | None]:
    period = rule["period"]
    end = math.floor((now - rule.get("delay_seconds", 0)) / period) * period
    start = end - period * rule["evaluation_periods"]
    points = metrics.query(
        services,
        rule["component"],
        metric,
        stat=rule["stat"],
        period=period,
        start=at(start),
        end=at(end),
        dimensions=rule.get("dimensions") or None,
    )
    by_time = {epoch(p.timestamp) // period * period: p.value for p in points}
    return [by_time.get(int(start + i * period)) for i in range(rule["evaluation_periods"])]


def metric_values(services: ServiceContext, rule: dict[str, Any], now: float) -> list[float | None]:
    """The rule's datapoints, oldest first, one per period (None where there is no data): the
    ``evaluation_periods`` whole periods that ended ``delay_seconds`` before ``now``; with a
    ``denominator``, each the ratio of the two metrics' statistics (None where the denominator is 0
    or missing)."""
    values = _series(services, rule, rule["metric"], now)
    if not rule.get("denominator"):
        return values
    below = _series(services, rule, rule["denominator"], now)
    return [
        (v or 0.0) / d if d else None  # a period with requests and no errors datapoint: a 0 rate
        for v, d in zip(values, below, strict=True)
    ]


def evaluate(
    services: ServiceContext, rule: dict[str, Any], alert: dict[str, Any], now: float
) -> tuple[str, dict[str, Any]] | None:
    """One rule's condition now and the values behind it; None for rules the sweep leaves alone."""
    kind = rule["kind"]
    if kind == "metric":
        return evaluate_metric(rule, metric_values(services, rule, now))
    if kind == "health":
        record = ComponentRepository(services.store).get(rule["component"])
        health = (record.data.get("health") if record else None) or None
        since = parse_iso(health["since"]) if health and health.get("since") else None
        return evaluate_health(rule, health, now, since)
    if kind == "backup_age":
        newest = alert.get("newest_backup_at")
        return evaluate_backup_age(rule, parse_iso(newest) if newest else None, now)
    if kind == "event" and alert["state"] == "FIRING" and rule.get("resolve_after_minutes"):
        seen = alert.get("event_seen_at")
        if seen and now - parse_iso(seen) >= rule["resolve_after_minutes"] * 60:
            return "ok", {"reason": f"no matching event for {rule['resolve_after_minutes']} minutes"}
    return None


def sweep(services: ServiceContext, *, dispatch: bool = True) -> dict[str, Any]:
    """Evaluate every rule once; counts by state, and what the dispatch did."""
    from pilothouse.services.event_feed import dispatch as dispatch_feed

    now = services.clock.time()
    counts: dict[str, int] = {}
    errors = 0
    if dispatch:  # events first: an event rule fired by them is seen by this sweep
        dispatch_feed(services)
    for record in alerts.repo(services).rules():
        name = record["name"]
        item = alerts.repo(services).alert(name)
        if item is None:
            continue
        try:
            outcome = evaluate(services, record["rule"], item.data, now)
            if outcome is not None:
                item = alerts.transition(services, name, outcome[0], outcome[1])
        except NotFound:
            continue
        except Exception:  # one broken rule (a metrics store hiccup) must not stop the others
            log.exception("evaluating alert rule %s failed", name)
            errors += 1
        counts[item.data["state"]] = counts.get(item.data["state"], 0) + 1
    out: dict[str, Any] = {"states": counts, "errors": errors}
    if dispatch:
        out["dispatched"] = dispatch_feed(services)
    return out
