"""What the strategy workflows' Task states do: provider operations, analysis, gates, outcomes.

Every function takes the Task's payload (``deployment_id`` and the plan step's ``index``), acts
through the component's provider, records what happened on the deployment, and returns a small
JSON result. They are safe to run again (the workflow retries a task whose worker died): a step
already done returns at once.
"""

from __future__ import annotations

from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.deployments import (
    CAPABILITY_FIELD,
    FINAL,
    Analysis,
    capability_matches,
    conclude,
    judge,
)
from pilothouse.domain.lifecycle import Command, Outcome
from pilothouse.errors import VersionConflict
from pilothouse.ports import Placement, PortUnavailable, ProviderError
from pilothouse.services import deployment_records as records
from pilothouse.services.context import ServiceContext
from pilothouse.services.deployment_records import (
    Aborted,
    AnalysisFailed,
    CapabilityRefused,
    DeploymentError,
    HealthCheckFailed,
    Paused,
)
from pilothouse.services.jobs import finish_operation

# -- steps ---------------------------------------------------------------------------------------

Record = dict[str, Any] | None


def _read(services: ServiceContext, payload: dict[str, Any], known: Record) -> dict[str, Any]:
    """The deployment a step acts on: ``known`` (as the capability check read it a moment ago) or
    read now."""
    return known if known is not None else records.dep(services, payload["deployment_id"])


def _pass_gate(services: ServiceContext, dep: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The gate of a step that does work, passed in the step's own task when the workflow says so
    (``gated``, the shipped plan workflow): what the Gate state's task does before a step, without
    a callback task and an execution step of its own. An abort requested fails the step with
    ``Aborted`` (the workflow rolls back); a pause raises :class:`Paused`, which the workflow
    catches to hold the step at its Gate until it is resumed; otherwise the step is marked
    started. Only the first time: a step that is no longer pending has passed its gate already (a
    Gate state of an earlier definition, a hold, an analysis measuring again, a retry)."""
    index = payload["index"]
    if not payload.get("gated") or dep["steps"][index]["status"] != "pending":
        return dep
    if dep.get("abort_requested"):
        raise Aborted(dep["abort_requested"].get("reason") or "aborted")
    if dep["paused"]:
        raise Paused(f"deployment {dep['id']} is paused before step {index}")
    return records.mark(services, dep["id"], index, "running", "step.started")


def _prepare(services: ServiceContext, payload: dict[str, Any], known: Record = None) -> dict[str, Any]:
    dep_id, index = payload["deployment_id"], payload["index"]
    dep = _pass_gate(services, _read(services, payload, known), payload)
    stable, candidate = records.revisions(dep)
    if candidate and dep["steps"][index]["status"] == "succeeded":
        return {"candidate": candidate}
    step = dep["steps"][index]
    release = records.release(services, dep, step.get("replicas"))
    provider = records.provider(services, dep)
    try:
        placement = provider.prepare(records.placement(dep), release)
    except PortUnavailable as exc:  # a conflict with another process, not an unhealthy version
        records.mark(services, dep_id, index, "failed", "step.failed", error=exc.reason, logs=exc.logs[-20:])
        raise DeploymentError(exc.reason) from None
    except ProviderError as exc:
        records.mark(services, dep_id, index, "failed", "step.failed", error=exc.reason, logs=exc.logs[-20:])
        raise HealthCheckFailed(f"{exc.reason}; last output: {' | '.join(exc.logs[-5:])}") from None
    records.save_placement(services, dep_id, index, placement, "prepared")
    return {"candidate": placement.details.get("candidate")}


def _shift(services: ServiceContext, payload: dict[str, Any], known: Record = None) -> dict[str, Any]:
    dep_id, index = payload["deployment_id"], payload["index"]
    dep = _pass_gate(services, _read(services, payload, known), payload)
    weight = dep["steps"][index]["weight"]
    if dep.get("promote_full"):
        weight = 100
    stable, candidate = records.revisions(dep)
    if candidate is None:
        raise DeploymentError("no candidate revision to shift traffic to")
    # the only revision (a first deploy) takes everything; otherwise split with the stable one
    weights = (
        {candidate: 100} if not stable or stable == candidate else {stable: 100 - weight, candidate: weight}
    )
    placement = records.provider_call(records.provider(services, dep).shift, records.placement(dep), weights)
    records.save_placement(services, dep_id, index, placement, "traffic.shifted", weights=weights)
    return {"weights": weights}


def _set_replicas(services: ServiceContext, payload: dict[str, Any], known: Record = None) -> dict[str, Any]:
    dep_id, index = payload["deployment_id"], payload["index"]
    dep = _pass_gate(services, _read(services, payload, known), payload)
    step = dep["steps"][index]
    stable, candidate = records.revisions(dep)
    revision = stable if step["revision"] == "stable" else candidate
    if revision is None:  # e.g. scaling down a stable that does not exist (first deploy)
        records.mark(services, dep_id, index, "skipped", "step.skipped")
        return {"skipped": True}
    placement = records.provider_call(
        records.provider(services, dep).set_replicas, records.placement(dep), revision, step["replicas"]
    )
    records.save_placement(services, dep_id, index, placement, "replicas.set")
    return {"revision": revision, "replicas": step["replicas"]}


def _health(services: ServiceContext, payload: dict[str, Any], known: Record = None) -> dict[str, Any]:
    dep_id, index = payload["deployment_id"], payload["index"]
    dep = _pass_gate(services, _read(services, payload, known), payload)
    _, candidate = records.revisions(dep)
    result = records.provider_call(
        records.provider(services, dep).check_health, records.placement(dep), candidate
    )
    if not result.healthy:
        records.mark(services, dep_id, index, "failed", "health.failed", _detail=result.to_dict())
        raise HealthCheckFailed(f"{result.failing} of {result.checked} instances unhealthy: {result.detail}")
    records.mark(services, dep_id, index, "succeeded", "health.passed")
    return result.to_dict()


def _analyze(services: ServiceContext, payload: dict[str, Any], known: Record = None) -> dict[str, Any]:
    """One measurement of the step's analysis; says whether to measure again, pause, or go on."""
    dep_id, index = payload["deployment_id"], payload["index"]
    dep = _pass_gate(services, _read(services, payload, known), payload)
    if dep.get("promote_full"):
        records.mark(services, dep_id, index, "skipped", "analysis.skipped")
        return {"next": "pass"}
    analysis = Analysis.model_validate(dep["steps"][index]["analysis"])
    _, candidate = records.revisions(dep)
    provider = records.provider(services, dep)
    metrics = records.provider_call(
        provider.read_metrics, records.placement(dep), candidate, analysis.window_seconds
    ).to_dict()
    if analysis.alerts:  # "fail the step while this rule fires" (CodeDeploy's alarms)
        from pilothouse.services.alerts import firing

        metrics["alerts_firing"] = firing(services, analysis.alerts)
    health_result = (
        records.provider_call(provider.check_health, records.placement(dep), candidate).to_dict()
        if analysis.health
        else None
    )
    verdict = judge(analysis, metrics, health_result)
    outcome: str = verdict.outcome
    if outcome == "no_data":
        outcome = {"fail": "fail", "pass": "pass", "pause": "no_data"}[analysis.no_data]
    measurement = {
        "step": index,
        "at": iso(services.clock.time()),
        "metrics": metrics,
        "health": health_result,
        "verdict": verdict.outcome,
        "counted_as": outcome,
        "reasons": verdict.reasons,
        "no_data_policy": analysis.no_data,
    }
    past = [m["counted_as"] for m in dep["analysis"] if m["step"] == index and m["counted_as"] != "no_data"]
    if outcome == "no_data":
        records.mark(
            services,
            dep_id,
            index,
            "waiting",
            "analysis.no_data",
            analysis=dep["analysis"] + [measurement],
            status="paused",
        )
        return {"next": "pause"}
    verdicts = past + [outcome]
    decision = conclude(analysis, verdicts)
    status = {"fail": "failed", "pass": "succeeded", "continue": "running"}[decision]
    records.mark(
        services,
        dep_id,
        index,
        status,
        f"analysis.{decision if decision != 'continue' else 'measured'}",
        analysis=dep["analysis"] + [measurement],
    )
    if decision == "fail":
        raise AnalysisFailed("; ".join(verdict.reasons) or "analysis failed")
    if decision == "continue":
        return {"next": "continue", "wait": analysis.interval_seconds}
    return {"next": "pass"}


def _gate(services: ServiceContext, payload: dict[str, Any], known: Record = None) -> None:
    """Before each step (kind gate), a bake or an indefinite pause (kind pause), an approval: record
    the task token; complete it at once when nothing needs to hold the deployment."""

    dep_id, index, kind, token = payload["deployment_id"], payload["index"], payload["kind"], payload["token"]
    dep = _read(services, payload, known)
    if dep.get("abort_requested"):
        services.orchestrator.send_task_failure(
            token, "Aborted", dep["abort_requested"].get("reason") or "aborted"
        )
        return
    proceed = (kind == "gate" and not dep["paused"]) or (kind == "pause" and dep.get("promote_full"))
    if proceed:
        if kind == "gate":
            records.mark(services, dep_id, index, "running", "step.started")
        else:
            records.mark(services, dep_id, index, "skipped", "pause.skipped")
        services.orchestrator.send_task_success(token, {})
        return
    timed = kind == "pause" and payload.get("seconds") is not None
    status = {"gate": "paused", "approval": "awaiting_approval"}.get(
        kind, "in_progress" if timed else "paused"
    )
    records.mark(
        services,
        dep_id,
        index,
        "waiting",
        f"{kind}.waiting",
        status=status,
        pending_token={
            "kind": kind,
            "token": token,
            "index": index,
            "since": iso(services.clock.time()),
            "seconds": payload.get("seconds"),
        },
    )


# -- outcomes ------------------------------------------------------------------------------------


def _notify(services: ServiceContext, dep: dict[str, Any]) -> None:
    """Tell a waiting promotion how its deployment ended."""
    from pilothouse.errors import NotFound

    token = dep.get("notify_token")
    if not token:
        return
    try:
        if dep["status"] == "succeeded":
            services.orchestrator.send_task_success(
                token, {"deployment_id": dep["id"], "status": dep["status"]}
            )
        else:
            services.orchestrator.send_task_failure(
                token, "DeploymentNotSucceeded", f"deployment {dep['id']} ended {dep['status']}"
            )
    except NotFound:
        pass


def _reason(error: dict[str, Any]) -> str:
    """A readable reason from a States error: the function's message rather than its JSON envelope."""
    from pilothouse.jsonbounds import loads

    cause = error.get("Cause") or ""
    try:
        parsed = loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            cause = parsed["errorMessage"]
    except (TypeError, ValueError):
        pass
    return f"{error.get('Error', 'Error')}: {cause}".strip()


def _finish_component(
    services: ServiceContext,
    dep: dict[str, Any],
    outcome: Outcome,
    placement: Placement | None,
    error: str | None,
) -> None:
    for _ in range(20):
        record = records.component(services, dep)
        op = record.data.get("operation")
        if not op or op["id"] != dep["id"]:
            return  # already finished (a retried task)
        try:
            finish_operation(
                services,
                record,
                Command(dep["command"]),
                outcome,
                placement,
                error,
                dep.get("logs") or [],
                dep["to_version"],
                dep.get("config"),
            )
            break
        except VersionConflict:
            continue
    if dep["command"] in ("deploy", "update", "retry", "rollback"):
        from pilothouse.services import config

        # a failed config change's stored config goes back to what runs; a waiting one rolls out
        config.deployment_ended(services, dep, outcome is Outcome.SUCCEEDED)


def _end(services: ServiceContext, dep_id: str, status: str, event: str, **fields) -> dict[str, Any]:
    def change(d):
        if d["status"] in FINAL:
            return None
        records.close_steps(d, status=status, now=iso(services.clock.time()))
        d.update(
            status=status,
            outcome=status,
            finished_at=iso(services.clock.time()),
            pending_token=None,
            **fields,
        )
        return {"type": event, "status": status}

    return records.deployments(services).change(dep_id, change)


def unapproved_steps(dep: dict[str, Any]) -> list[int]:
    """The plan's approval steps nobody has approved (yet)."""
    approved = {a.get("index") for a in dep.get("approvals") or [] if a.get("decision") == "approved"}
    return [s["index"] for s in dep["steps"] if s.get("kind") == "approval" and s["index"] not in approved]


def _finalize(services: ServiceContext, payload: dict[str, Any], known: Record = None) -> dict[str, Any]:
    dep_id = payload["deployment_id"]
    dep = _read(services, payload, known)
    if dep["status"] in FINAL:
        return {"status": dep["status"]}
    unapproved = unapproved_steps(dep)
    if unapproved:  # whatever workflow calls this, an approval gate is never skipped
        raise DeploymentError(
            f"deployment {dep_id} cannot finish: approval step(s) {unapproved} were not approved"
        )
    _, candidate = records.revisions(dep)
    placement = records.provider_call(
        records.provider(services, dep).finalize, records.placement(dep), candidate
    )
    records.save_placement(services, dep_id, None, placement, "finalized", weights={candidate: 100})
    dep = _end(services, dep_id, "succeeded", "succeeded")
    _finish_component(services, dep, Outcome.SUCCEEDED, placement, None)
    _notify(services, dep)
    return {"status": "succeeded"}


def _rollback(services: ServiceContext, payload: dict[str, Any], known: Record = None) -> dict[str, Any]:
    """Back to the stable revision (restarting it if a recreate had stopped it)."""
    dep_id = payload["deployment_id"]
    error = payload.get("error") or {}
    dep = _read(services, payload, known)
    if dep["status"] in FINAL:
        return {"status": dep["status"]}
    reason = _reason(error)
    aborted = error.get("Error") == "Aborted" or (
        dep.get("abort_requested") and not dep["abort_requested"].get("break_glass")
    )
    dep = records.mark(services, dep_id, None, "", "rolling_back", status="rolling_back", error=reason)
    stable, candidate = records.revisions(dep)
    provider = records.provider(services, dep)
    placement = records.placement(dep)
    if stable is None or placement is None:  # a first deploy: nothing to go back to
        if placement is not None:
            records.provider_call(provider.stop, placement)
        dep = _end(services, dep_id, "aborted" if aborted else "failed", "failed", placement=None)
        _finish_component(services, dep, Outcome.FAILED, None, reason)
        _notify(services, dep)
        return {"status": dep["status"]}
    revs = placement.details.get("revisions") or {}
    if revs.get(stable, {}).get("replicas", 1) == 0:  # a recreate had stopped it
        placement = records.provider_call(provider.set_replicas, placement, stable, max(1, dep["replicas"]))
    placement = records.provider_call(provider.rollback, placement, stable)
    records.save_placement(services, dep_id, None, placement, "rolled_back", weights={stable: 100})
    dep = _end(
        services, dep_id, "aborted" if aborted else "rolled_back", "aborted" if aborted else "rolled_back"
    )
    _finish_component(services, dep, Outcome.REVERTED, placement, reason)
    _notify(services, dep)
    return {"status": dep["status"]}


def _failed(services: ServiceContext, payload: dict[str, Any], known: Record = None) -> dict[str, Any]:
    """The rollback itself failed: the deployment failed and the component is Failed."""
    dep_id = payload["deployment_id"]
    error = payload.get("error") or {}
    reason = f"rollback failed: {_reason(error)}"
    dep = _end(services, dep_id, "failed", "failed", error=reason)
    _finish_component(services, dep, Outcome.FAILED, records.placement(dep), reason)
    _notify(services, dep)
    return {"status": "failed"}


def mark_failed(services: ServiceContext, deployment_id: str, error: dict[str, Any]) -> dict[str, Any]:
    """Server-side: the deployment's rollback workflow ended badly (no capability needed in-process)."""
    return _failed(services, {"deployment_id": deployment_id, "error": error})


# -- the task functions: each checks the deployment's capability first -------------------------------


def authorize(services: ServiceContext, payload: Any) -> dict[str, Any]:
    """The deployment ``payload`` names, if ``payload`` carries its capability token (constant-time
    compare against the digests on the record); :class:`CapabilityRefused` otherwise."""
    dep_id = payload.get("deployment_id") if isinstance(payload, dict) else None
    item = records.deployments(services).get(dep_id) if isinstance(dep_id, str) and dep_id else None
    digests = (item.data.get("capabilities") or []) if item is not None else []
    if not capability_matches(payload.get(CAPABILITY_FIELD) if isinstance(payload, dict) else None, digests):
        raise CapabilityRefused(
            f"refused: this task acts on a deployment only for the strategy workflow that owns it, and the "
            f"call does not carry deployment {dep_id!r}'s capability token"
        )
    assert item is not None  # a capability matched its digests
    return item.data


def _task(step):
    def entry(services: ServiceContext, payload: dict[str, Any]) -> Any:
        known = authorize(services, payload)
        return step(services, {k: v for k, v in payload.items() if k != CAPABILITY_FIELD}, known)

    entry.__name__ = step.__name__.lstrip("_")
    entry.__qualname__ = entry.__name__
    entry.__doc__ = step.__doc__
    return entry


STEPS = {
    "prepare": _prepare,
    "shift": _shift,
    "replicas": _set_replicas,
    "health": _health,
    "analyze": _analyze,
    "gate": _gate,
    "finalize": _finalize,
    "rollback": _rollback,
}

prepare = _task(_prepare)
shift = _task(_shift)
set_replicas = _task(_set_replicas)
health = _task(_health)
analyze = _task(_analyze)
gate = _task(_gate)
finalize = _task(_finalize)
rollback = _task(_rollback)
failed = _task(_failed)


def run_step(services: ServiceContext, action: str, payload: dict[str, Any]) -> Any:
    """Server-side: one step for a caller the server has already bound to the deployment
    (:mod:`pilothouse.services.workflow_operations` ``strategy_step``)."""
    return STEPS[action](services, payload)
