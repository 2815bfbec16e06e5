"""What the deployment tasks share: the deployment and component records they read and mark, the
release and provider of a deployment, and provider calls that turn port conflicts into task errors."""

from __future__ import annotations

from typing import Any

from pilothouse.clock import iso
from pilothouse.ports import Placement, ProviderError
from pilothouse.repositories.components import ComponentRepository
from pilothouse.repositories.deployments import DeploymentRepository
from pilothouse.services.context import ServiceContext
from pilothouse.services.jobs import release_for


class DeploymentTaskError(Exception):
    """Raised to fail a Task state; the class name is the ASL error name."""


class CapabilityRefused(DeploymentTaskError):
    """The call does not carry the deployment's capability token: nothing was done."""


class HealthCheckFailed(DeploymentTaskError):
    pass


class AnalysisFailed(DeploymentTaskError):
    pass


class Aborted(DeploymentTaskError):
    pass


class DeploymentError(DeploymentTaskError):
    pass


class Paused(DeploymentTaskError):
    """A gated step task found its deployment paused before the step started: nothing was done,
    and the workflow holds the step at its Gate (a callback task) until the deployment resumes."""


def close_waits(d: dict[str, Any], *, before: int, now: str) -> None:
    """A step that waited (a bake, a pause until promoted, a gate) has ended once a later step
    starts or the deployment succeeds: it is succeeded, not waiting for ever."""
    for step in d["steps"][:before]:
        if step["status"] == "waiting":
            step["status"] = "succeeded"
            step["finished_at"] = now


def end_step(step: dict[str, Any], status: str, now: str) -> None:
    """A step that has ended: its status and when (once)."""
    step["status"] = status
    step.setdefault("finished_at", now)


def close_steps(d: dict[str, Any], *, status: str, now: str) -> None:
    """The deployment has ended (``status``): no step is left waiting, running or pending. In a
    deployment that succeeded they succeeded; in one that did not, the steps it never carried out
    (or gave up waiting in) were skipped."""
    for step in d["steps"]:
        if step["status"] in ("succeeded", "failed", "skipped"):
            continue
        end_step(step, "succeeded" if status == "succeeded" else "skipped", now)


def deployments(services: ServiceContext) -> DeploymentRepository:
    return DeploymentRepository(services.store)


def dep(services: ServiceContext, deployment_id: str) -> dict[str, Any]:
    return deployments(services).require(deployment_id).data


def component(services: ServiceContext, dep: dict[str, Any]):
    record = ComponentRepository(services.store).get(dep["component"])
    if record is None:
        raise DeploymentError(f"component {dep['component']} is gone")
    return record


def release(services: ServiceContext, dep: dict[str, Any], replicas: int | None = None):
    record = component(services, dep)
    count = replicas if replicas is not None else dep["replicas"]
    from pilothouse.services import secrets

    release = release_for(record.data, version=dep["to_version"], config=dep.get("config"), replicas=count)
    return secrets.bind(services, release, dep["provider"])  # secrets resolve as the revision starts


def provider(services: ServiceContext, dep: dict[str, Any]):
    return services.provider(dep["provider"])


def mark(
    services: ServiceContext, dep_id: str, index: int | None, step_status: str, event: str, **fields
) -> dict:
    """Record a step's status (and any deployment fields) with an event."""

    def change(d):
        now = iso(services.clock.time())
        if index is not None:
            step = d["steps"][index]
            if step["status"] == step_status and not fields:
                return None
            close_waits(d, before=index, now=now)
            step["status"] = step_status
            step.setdefault("started_at", now)
            if step_status in ("succeeded", "failed", "skipped"):
                step["finished_at"] = now
            d["current_step"] = index
        for k, v in fields.items():
            d[k] = v
        if d["status"] == "pending":
            d["status"] = "in_progress"
        return {
            "type": event,
            "step": index,
            **({"detail": fields.get("_detail")} if "_detail" in fields else {}),
        }

    return deployments(services).change(dep_id, change)


def save_placement(
    services: ServiceContext,
    dep_id: str,
    index: int | None,
    placement: Placement,
    event: str,
    weights: dict | None = None,
) -> dict:
    fields: dict[str, Any] = {"placement": placement.to_dict()}
    if weights is not None:
        fields["weights"] = weights
    else:
        revs = placement.details.get("revisions") or {}
        fields["weights"] = {r: v.get("weight", 0) for r, v in revs.items()}
    return mark(services, dep_id, index, "succeeded", event, **fields)


def placement(dep: dict[str, Any]) -> Placement | None:
    return Placement.from_dict(dep["placement"]) if dep.get("placement") else None


def revisions(dep: dict[str, Any]) -> tuple[str | None, str | None]:
    details = (dep.get("placement") or {}).get("details") or {}
    return details.get("stable"), details.get("candidate")


def provider_call(fn, *args):
    try:
        return fn(*args)
    except ProviderError as exc:
        raise DeploymentError(
            f"{exc.reason}" + (f"; last output: {exc.logs[-3:]}" if exc.logs else "")
        ) from None
