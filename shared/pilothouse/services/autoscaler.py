"""The Auto Scaler (issue 11 §5): policies per component, and the sweep that evaluates them.

Each minute (``functions/autoscale``) every Running component with an enabled policy is evaluated
(:func:`pilothouse.domain.autoscaling.decide`) over its collected metrics. A decision to scale goes
through the lifecycle's Scale command (:func:`pilothouse.services.components.command`), so it is
checked against the spec's min and max, recorded as the component's event, audited as the
``autoscaler``'s, refused while the component or its environment is frozen, and loses races
safely: a 409 is recorded and the next evaluation looks again. Every decision is kept with its
reason and the readings behind it.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pilothouse.clock import iso
from pilothouse.domain.autoscaling import AutoscalePolicy, Decision, MetricRef, decide
from pilothouse.domain.lifecycle import Command
from pilothouse.errors import AlreadyExists, Conflict, NotFound, VersionConflict
from pilothouse.repositories.autoscaling import AutoscaleRepository
from pilothouse.repositories.components import ComponentRepository, Record
from pilothouse.services import audit, components, freezes, metrics

if TYPE_CHECKING:
    from pilothouse.services.context import ServiceContext

logger = logging.getLogger(__name__)

ACTOR = "autoscaler"


def _require_component(ctx: ServiceContext, name: str) -> Record:
    record = ComponentRepository(ctx.store).get(name)
    if record is None:
        raise NotFound(f"no component named {name!r}")
    return record


def get_policy(ctx: ServiceContext, name: str, *, decisions: int = 20) -> dict[str, Any]:
    """The component's policy (None if it has none), its last scalings and latest decisions."""
    record = _require_component(ctx, name)
    repo = AutoscaleRepository(ctx.store)
    item = repo.get(name)
    data = item.data if item else {}
    scaling = record.data["spec"]["scaling"]
    return {
        "component": name,
        "policy": data.get("policy"),
        "min": scaling["min"],
        "max": scaling["max"],
        "replicas": record.data["replicas"],
        "updated_at": data.get("updated_at"),
        "updated_by": data.get("updated_by"),
        "last_scale_out": data.get("last_scale_out"),
        "last_scale_in": data.get("last_scale_in"),
        "decisions": repo.decisions(name, limit=decisions),
    }


def set_policy(ctx: ServiceContext, name: str, policy: AutoscalePolicy, *, actor: str) -> dict[str, Any]:
    """Create or replace the component's policy (its last scaling times are kept)."""
    _require_component(ctx, name)
    repo = AutoscaleRepository(ctx.store)
    for _ in range(5):
        item = repo.get(name)
        data = {
            "component": name,
            "policy": policy.model_dump(mode="json"),
            "updated_at": iso(ctx.clock.time()),
            "updated_by": actor,
            "last_scale_out": item.data.get("last_scale_out") if item else None,
            "last_scale_in": item.data.get("last_scale_in") if item else None,
        }
        try:
            repo.put(data, item)
            return get_policy(ctx, name)
        except (VersionConflict, AlreadyExists):
            continue
    raise VersionConflict(f"the autoscaling policy of {name!r} keeps changing; try again")


def disable(ctx: ServiceContext, name: str, *, actor: str) -> dict[str, Any]:
    """Turn the component's policy off (it is kept, to enable again with set)."""
    _require_component(ctx, name)
    item = AutoscaleRepository(ctx.store).get(name)
    if item is None:
        raise NotFound(f"component {name!r} has no autoscaling policy")
    policy = AutoscalePolicy.model_validate({**item.data["policy"], "enabled": False})
    return set_policy(ctx, name, policy, actor=actor)


# -- evaluation --------------------------------------------------------------------------------------


def _window(ctx: ServiceContext, minutes: int) -> tuple[datetime, datetime]:
    now = int(ctx.clock.time())
    end = now - now % 60 + 60  # the current minute is included: what was collected of it counts
    return datetime.fromtimestamp(end - (minutes + 1) * 60, UTC), datetime.fromtimestamp(end, UTC)


def _per_minute(ctx: ServiceContext, name: str, metric: str, stat: str, window, dims=None) -> list[float]:
    start, end = window
    points = metrics.query(ctx, name, metric, stat=stat, period=60, start=start, end=end, dimensions=dims)
    return [p.value for p in points if p.value is not None]


def reading(ctx: ServiceContext, name: str, ref: MetricRef, replicas: int, minutes: int) -> float | None:
    """The value of one policy metric now (None: no data)."""
    window = _window(ctx, minutes)
    if ref.metric == "requests_per_replica":
        per_minute = _per_minute(ctx, name, "requests", "Sum", window)
        return sum(per_minute) / len(per_minute) / 60 / max(replicas, 1) if per_minute else None
    if ref.metric == "error_rate":
        requests = sum(_per_minute(ctx, name, "requests", "Sum", window))
        return sum(_per_minute(ctx, name, "errors", "Sum", window)) / requests if requests else None
    if ref.metric == "p99_latency_ms":
        start, end = window
        period = int((end - start).total_seconds())
        [point] = metrics.query(ctx, name, "latency_ms", stat="p99", period=period, start=start, end=end)
        return point.value
    values = _per_minute(ctx, name, ref.metric, ref.stat, window, ref.dimensions or None)
    return sum(values) / len(values) if values else None


def evaluate(ctx: ServiceContext, name: str) -> dict[str, Any] | None:
    """Evaluate one component's policy and act on it; the decision recorded (None: nothing to do)."""
    repo = AutoscaleRepository(ctx.store)
    item = repo.get(name)
    record = ComponentRepository(ctx.store).get(name)
    if item is None or record is None or record.state != "Running":
        return None
    policy = AutoscalePolicy.model_validate(item.data["policy"])
    if not policy.enabled:
        return None
    current = int(record.data["replicas"])
    readings = {
        ref.reading: reading(ctx, name, ref, current, policy.window_minutes) for ref in policy.metrics()
    }
    scaling = record.data["spec"]["scaling"]
    now = ctx.clock.time()
    decision = decide(
        policy,
        current=current,
        low=scaling["min"],
        high=scaling["max"],
        readings=readings,
        now=now,
        last_scale_out=item.data.get("last_scale_out"),
        last_scale_in=item.data.get("last_scale_in"),
    )
    outcome = _act(ctx, record, decision) if decision.action in ("scale_out", "scale_in") else None
    if outcome == "accepted":
        _remember_scaling(repo, name, decision.action, now)
    data = {
        "at": iso(now),
        "component": name,
        **decision.model_dump(),
        "readings": readings,
        "outcome": outcome,
    }
    repo.add_decision(name, f"{now:017.6f}-{uuid.uuid4().hex[:6]}", data, now)
    return data


def _act(ctx: ServiceContext, record: Record, decision: Decision) -> str:
    """Ask for the Scale command; what became of it (accepted, frozen, conflict)."""
    name = record.name
    request_id = f"autoscale-{uuid.uuid4().hex[:12]}"
    try:
        freezes.check_not_frozen(ctx, name, record.data["spec"]["environment"])
        components.command(
            ctx, name, Command.SCALE, {"replicas": decision.desired}, actor=ACTOR, request_id=request_id
        )
    except Conflict as exc:
        _audit(ctx, name, request_id, 409, f"{decision.action}: {exc.detail}")
        return "frozen" if "frozen" in exc.extra else "conflict"
    _audit(
        ctx,
        name,
        request_id,
        202,
        f"{decision.action} {decision.current} -> {decision.desired}: {decision.reason}",
    )
    return "accepted"


def _audit(ctx: ServiceContext, name: str, request_id: str, status: int, detail: str) -> None:
    audit.record(
        ctx,
        principal=ACTOR,
        operation="scale_component",
        target=f"component:{name}",
        request_id=request_id,
        status=status,
        detail=detail[:500],
    )


def _remember_scaling(repo: AutoscaleRepository, name: str, action: str, now: float) -> None:
    field = "last_scale_out" if action == "scale_out" else "last_scale_in"
    for _ in range(5):
        item = repo.get(name)
        if item is None:
            return
        try:
            repo.put({**item.data, field: now}, item)
            return
        except (VersionConflict, AlreadyExists):
            continue
    logger.warning("could not record the scaling time", extra={"component": name})


def sweep(ctx: ServiceContext) -> dict[str, Any]:
    """Evaluate every enabled policy; a summary of the decisions."""
    summary: dict[str, Any] = {"evaluated": 0, "scaled": [], "failed": []}
    for item in AutoscaleRepository(ctx.store).all():
        name = item.data["component"]
        try:
            decision = evaluate(ctx, name)
        except Exception as exc:  # noqa: BLE001 - one component never stops the sweep
            logger.warning("autoscale evaluation failed", extra={"component": name, "error": str(exc)})
            summary["failed"].append({"component": name, "error": f"{type(exc).__name__}: {str(exc)[:200]}"})
            continue
        if decision is None:
            continue
        summary["evaluated"] += 1
        if decision["outcome"] == "accepted":
            summary["scaled"].append(
                {"component": name, "from": decision["current"], "to": decision["desired"]}
            )
    return summary
