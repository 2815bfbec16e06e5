"""The deployment manager (DESIGN §4): deployments as strategy workflows people can steer.

A deploy, update or retry of a component becomes a *deployment*: a record (status, steps, weights,
analysis results, approvals) and an execution that carries out the plan its strategy compiles to:
the shipped ``workflows/deployment-plan.asl.json`` (or the user's own ``strategy.workflow``) on the
durable engine (:mod:`pilothouse.services.strategy_workflows` ships and registers it). The
workflow's Task states call the ``deployment_*`` functions
(:mod:`pilothouse.services.deployment_tasks`); pauses and approvals are ``.waitForTaskToken``
tasks whose tokens the controls here complete.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pydantic import ValidationError

from pilothouse.clock import iso
from pilothouse.domain.deployments import (
    CAPABILITY_FIELD,
    FINAL,
    compile_plan,
    new_capability,
    parse_strategy,
)
from pilothouse.domain.lifecycle import Command
from pilothouse.domain.records import PendingOperation
from pilothouse.domain.security import Permission, Principal
from pilothouse.errors import Conflict, Forbidden, NotFound, ValidationFailed
from pilothouse.services.context import ServiceContext
from pilothouse.services.execution_listeners import ExecutionEnded
from pilothouse.services.strategy_workflows import (  # noqa: F401 -- these names were this module's
    LOCAL_ARN,
    PLAN_WORKFLOW,
    PREFIX,
    RETIRED_STRATEGY_WORKFLOWS,
    WORKFLOWS_DIR,
    builtin_definition,
    ensure_workflow,
    user_strategy_definition,
)
from pilothouse.store.deployments import DeploymentRepository


def repo(services: ServiceContext) -> DeploymentRepository:
    return DeploymentRepository(services.store)


# -- starting ------------------------------------------------------------------------------------


def plan_for(
    component: dict[str, Any], params: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The strategy and compiled steps for a command; 422 naming ``strategy`` when it is not valid."""
    raw = params.get("strategy") or component["spec"].get("deployment", {}).get("strategy")
    try:
        strategy = parse_strategy(raw)
    except ValidationError as exc:
        from pilothouse.services.components import validation_failed

        raise validation_failed(exc, ("strategy",)) from None
    if strategy.workflow and is_shipped(strategy.workflow):
        raise ValidationFailed.field(
            "strategy.workflow", "names a shipped workflow; choose one of those with strategy.type"
        )
    placement = component.get("placement")
    replicas = (
        placement["replicas"]
        if placement
        else (component["spec"]["scaling"]["replicas"] or max(component["spec"]["scaling"]["min"], 1))
    )
    steps = compile_plan(strategy, replicas=max(replicas, 1), first_deploy=placement is None)
    return strategy.model_dump(exclude_none=True), steps


def start(services: ServiceContext, component: dict[str, Any]) -> dict[str, Any]:
    """Create the deployment for the component's current operation and start its workflow.

    Idempotent: the deployment's id is the operation's id, the execution's name the deployment's.
    """
    from pilothouse.errors import AlreadyExists

    pending = PendingOperation.model_validate(component["operation"])
    dep_id = pending.id
    existing = repo(services).get(dep_id)
    capability: str | None = None
    if existing is None:
        strategy, steps = pending.strategy or {}, pending.steps or []
        cmd = pending.command
        placement = component.get("placement")
        to_version = pending.params.get("version") or (
            component["spec"]["version"] if cmd != "update" else component["version"]
        )
        workflow = strategy.get("workflow") or ensure_workflow(services, PLAN_WORKFLOW)
        now = iso(services.clock.time())
        capability, digest = new_capability()
        data = {
            "id": dep_id,
            "component": component["name"],
            "environment": component["spec"]["environment"],
            "provider": component["spec"]["provider"],
            "command": cmd,
            "from_version": component.get("version") if placement else None,
            "to_version": to_version,
            "config": pending.params.get("config"),
            "strategy": strategy,
            "workflow": workflow,
            "execution": dep_id,
            "status": "pending",
            "steps": [{"index": i, **s, "status": "pending"} for i, s in enumerate(steps)],
            "current_step": None,
            "placement": placement,
            # how many instances the new version runs (what served before, or the initial count)
            "replicas": placement["replicas"]
            if placement
            else (component["spec"]["scaling"]["replicas"] or max(component["spec"]["scaling"]["min"], 1)),
            "weights": ({placement["details"].get("stable") or "stable": 100} if placement else {}),
            "analysis": [],
            "approvals": [],
            "pending_token": None,
            "paused": False,
            "abort_requested": None,
            "promote_full": False,
            "outcome": None,
            "error": None,
            "initiated_by": pending.requested_by,
            "request_id": pending.request_id,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
            "notify_token": pending.notify_token,
            "separate_approver": component["spec"].get("deployment", {}).get("separate_approver", False),
            # digests of the capability tokens of the shipped workflows acting on this deployment
            "capabilities": [digest] if is_shipped(workflow) else [],
        }
        try:
            repo(services).create(
                data, {"type": "created", "status": "pending", "actor": data["initiated_by"]}
            )
        except AlreadyExists:
            capability = None
    dep = repo(services).require(dep_id).data
    if capability is None:  # started before (a retried job): start only if the execution is missing
        try:
            services.orchestrator.describe(dep["workflow"], dep["execution"])
            return dep
        except NotFound:
            pass
    _start_strategy(
        services,
        dep,
        {"deployment_id": dep_id, "steps": [_plain(s) for s in dep["steps"]]},
        workflow=dep["workflow"],
        name=dep["execution"],
        capability=capability,
    )
    return dep


def is_shipped(workflow: str) -> bool:
    """Whether ``workflow`` is one of the shipped definitions (reserved names; users cannot register them)."""
    from pilothouse.services.workflow_access import is_reserved

    return is_reserved(workflow)


def issue_capability(services: ServiceContext, deployment_id: str, execution: str) -> str:
    """A new capability token for one more shipped execution acting on the deployment (its digest
    joins the record; the token itself is returned once, for the execution's input)."""
    token, digest = new_capability()

    def change(d):
        d["capabilities"] = [*(d.get("capabilities") or []), digest]
        return {"type": "capability.issued", "execution": execution}

    repo(services).change(deployment_id, change)
    return token


def _start_strategy(
    services: ServiceContext,
    dep: dict[str, Any],
    input: dict[str, Any],
    *,
    workflow: str,
    name: str,
    capability: str | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """Start ``workflow`` acting on ``dep``: a shipped one gets a capability token in its input and is
    trusted to call the internal tasks; a user's strategy workflow gets neither and runs as the
    deployment's initiator (its steps go through the public ``strategy_step``)."""
    if is_shipped(workflow):
        token = capability or issue_capability(services, dep["id"], name)
        return services.orchestrator.start(
            workflow,
            name=name,
            input={**input, CAPABILITY_FIELD: token},
            actor=actor or "system",
            trusted=True,
        )
    from pilothouse.services.workflow_operations import record_starter

    # A user's workflow never runs as "system" (an admin): without a recorded initiator (records
    # older than initiators) its tasks act for nobody and are refused.
    initiator = dep.get("initiated_by") or "unknown"
    record_starter(services, workflow, name, initiator)
    return services.orchestrator.start(workflow, name=name, input=input, actor=initiator)


def _plain(step: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in step.items() if k not in ("status", "index", "started_at", "finished_at", "detail")
    }


# -- reading -------------------------------------------------------------------------------------


def get(services: ServiceContext, deployment_id: str) -> dict[str, Any]:
    return repo(services).require(deployment_id).data


def list_deployments(
    services: ServiceContext,
    *,
    limit: int = 50,
    cursor: str | None = None,
    component: str | None = None,
    environment: str | None = None,
    status: str | None = None,
):
    return repo(services).list(
        limit=limit, cursor=cursor, component=component, environment=environment, status=status
    )


def events(services: ServiceContext, deployment_id: str, *, limit: int = 100, cursor: str | None = None):
    return repo(services).events(deployment_id, limit=limit, cursor=cursor)


# -- controls ------------------------------------------------------------------------------------


def _live(data: dict[str, Any]) -> None:
    if data["status"] in FINAL:
        raise Conflict(
            f"deployment {data['id']} has ended ({data['status']})", extra={"status": data["status"]}
        )


def _token_of(data: dict[str, Any], *kinds: str) -> str:
    pending = data.get("pending_token")
    if not pending or pending["kind"] not in kinds:
        raise Conflict(
            f"deployment {data['id']} is not waiting for that (status {data['status']})",
            extra={"status": data["status"]},
        )
    return pending["token"]


def approve(
    services: ServiceContext,
    deployment_id: str,
    principal: Principal,
    *,
    comment: str = "",
    approve: bool = True,
) -> dict[str, Any]:
    """Approve (or reject) the approval gate a deployment waits at."""

    data = get(services, deployment_id)
    _live(data)
    token = _token_of(data, "approval")
    if not principal.can(Permission.DEPLOYMENTS_APPROVE):
        raise Forbidden(
            "approving deployments needs the deployments:approve permission",
            extra={"required_permission": Permission.DEPLOYMENTS_APPROVE.value},
        )
    if principal.environments and data["environment"] not in principal.environments:
        raise Forbidden(f"this key may approve only in: {', '.join(principal.environments)}")
    if data.get("separate_approver") and principal.id == data.get("initiated_by"):
        raise Forbidden("this component requires the approver not to be who started the deployment")
    decision = {
        "by": principal.id,
        "name": principal.name,
        "decision": "approved" if approve else "rejected",
        "comment": comment,
        "at": iso(services.clock.time()),
        "index": data["pending_token"].get("index"),
    }

    def record(d):
        d["approvals"].append(decision)
        d["pending_token"] = None
        d["status"] = "in_progress" if approve else "rolling_back"
        return {"type": f"approval.{decision['decision']}", "actor": principal.id, "comment": comment}

    repo(services).change(deployment_id, record)
    if approve:
        services.orchestrator.send_task_success(token, {"approved_by": principal.id})
    else:
        services.orchestrator.send_task_failure(token, "Rejected", comment or f"rejected by {principal.id}")
    return get(services, deployment_id)


def promote(services: ServiceContext, deployment_id: str, *, full: bool, actor: str) -> dict[str, Any]:
    """End the pause the deployment waits in; ``full`` also skips every later pause and analysis."""

    data = get(services, deployment_id)
    _live(data)
    pending = data.get("pending_token")
    if not full:
        _token_of(data, "pause")

    def record(d):
        d["promote_full"] = d["promote_full"] or full
        if d.get("pending_token") and d["pending_token"]["kind"] == "pause":
            d["pending_token"] = None
            d["status"] = "in_progress"
        return {"type": "promoted", "full": full, "actor": actor}

    repo(services).change(deployment_id, record)
    if pending and pending["kind"] == "pause":
        services.orchestrator.send_task_success(pending["token"], {"promoted_by": actor})
    return get(services, deployment_id)


def pause(services: ServiceContext, deployment_id: str, *, actor: str) -> dict[str, Any]:
    def record(d):
        _live(d)
        if d["paused"]:
            return None
        d["paused"] = True
        return {"type": "pause.requested", "actor": actor}

    repo(services).change(deployment_id, record)
    return get(services, deployment_id)


def resume(services: ServiceContext, deployment_id: str, *, actor: str) -> dict[str, Any]:

    data = get(services, deployment_id)
    _live(data)
    pending = data.get("pending_token")

    def record(d):
        d["paused"] = False
        if d.get("pending_token") and d["pending_token"]["kind"] == "gate":
            d["pending_token"] = None
            d["status"] = "in_progress"
        return {"type": "resumed", "actor": actor}

    repo(services).change(deployment_id, record)
    if pending and pending["kind"] == "gate":
        services.orchestrator.send_task_success(pending["token"], {"resumed_by": actor})
    return get(services, deployment_id)


def abort(services: ServiceContext, deployment_id: str, *, actor: str, reason: str = "") -> dict[str, Any]:
    """Stop at the next opportunity and go back to the stable version."""

    data = get(services, deployment_id)
    _live(data)
    pending = data.get("pending_token")

    def record(d):
        d["abort_requested"] = {"by": actor, "reason": reason, "at": iso(services.clock.time())}
        d["pending_token"] = None
        d["status"] = "rolling_back" if pending else d["status"]
        return {"type": "abort.requested", "actor": actor, "reason": reason}

    repo(services).change(deployment_id, record)
    if pending:
        services.orchestrator.send_task_failure(pending["token"], "Aborted", reason or f"aborted by {actor}")
    return get(services, deployment_id)


def break_glass(
    services: ServiceContext, deployment_id: str, *, actor: str, reason: str = ""
) -> dict[str, Any]:
    """Roll back now: stop the deployment's workflow and send all traffic to the stable version."""

    data = get(services, deployment_id)
    _live(data)
    services.orchestrator.stop(data["workflow"], data["execution"], error="BreakGlass", cause=reason or actor)

    def record(d):
        d["abort_requested"] = {
            "by": actor,
            "reason": reason or "break-glass rollback",
            "at": iso(services.clock.time()),
            "break_glass": True,
        }
        d["pending_token"] = None
        d["status"] = "rolling_back"
        return {"type": "rollback.break_glass", "actor": actor, "reason": reason}

    repo(services).change(deployment_id, record)
    with contextlib.suppress(Conflict):  # stopping the workflow may have started this rollback already
        _start_strategy(
            services,
            get(services, deployment_id),
            {"deployment_id": deployment_id},
            workflow=ensure_workflow(services, "break-glass-rollback"),
            name=f"{deployment_id}-rollback"[:80],
            actor=actor,
        )
    return get(services, deployment_id)


def rollback_component(
    services: ServiceContext, name: str, *, version: str | None, actor: str, request_id: str | None
) -> dict[str, Any]:
    """Break-glass for a component: mid-deployment, roll that back; otherwise deploy the previous
    (or named) version at once, skipping gates and analysis. Returns the component's view."""
    from pilothouse.services import components

    record = components.get(services, name)
    op = record.data.get("operation")
    if op and repo(services).get(op["id"]) is not None:
        break_glass(services, op["id"], actor=actor, reason="break-glass rollback of the component")
        return components.view(components.get(services, name))
    target = version or record.data.get("previous_version")
    if not target:
        raise Conflict(
            f"component {name!r} has no previous version to roll back to; name one",
            extra={"field": "version"},
        )
    return components.command(
        services,
        name,
        Command.UPDATE,
        {
            "version": target,
            "strategy": {
                "type": "custom",
                "steps": [{"kind": "prepare"}, {"kind": "set_weight", "weight": 100}],
            },
        },
        actor=actor,
        request_id=request_id,
        break_glass=True,
    )


def on_execution_ended(services: ServiceContext, ended: ExecutionEnded) -> None:
    """Listener (:mod:`pilothouse.services.execution_listeners`): a deployment's workflow ended
    badly (an uncatchable ``States.Runtime``, a stop, a timeout) without settling the deployment:
    roll back if the deployment is still unsettled; if that rollback itself ended badly, the
    deployment failed.

    Only the executions the deployment manager started for the deployment count (its strategy
    execution, or its trusted rollback): any other workflow whose input names a deployment id
    changes nothing. Idempotent: a settled deployment is left alone, and the rollback has a fixed
    name, so an end announced twice starts it once."""
    from pilothouse.services import deployment_tasks

    if ended.status == "SUCCEEDED" or not isinstance(ended.input, dict):
        return
    dep_id = ended.input.get("deployment_id")
    data = repo(services).get(dep_id) if isinstance(dep_id, str) and dep_id else None
    if data is None or data.data["status"] in FINAL:
        return
    dep = data.data
    error = {"Error": ended.error or "WorkflowEnded", "Cause": ended.cause or ""}
    if (ended.workflow, ended.name) == (dep["workflow"], dep["execution"]):
        with contextlib.suppress(Conflict):  # a break-glass may have started it already (same name)
            _start_strategy(
                services,
                dep,
                {"deployment_id": dep_id},
                workflow=ensure_workflow(services, "break-glass-rollback"),
                name=f"{dep_id}-rollback"[:80],
            )
    elif ended.trusted and ended.name == f"{dep_id}-rollback"[:80]:  # the rollback failed
        deployment_tasks.mark_failed(services, dep_id, error)


def view(data: dict[str, Any]) -> dict[str, Any]:
    """The public shape of a deployment (task tokens stay inside)."""
    out = {k: v for k, v in data.items() if k not in ("notify_token", "capabilities")}
    if data.get("pending_token"):
        out["pending_token"] = {k: v for k, v in data["pending_token"].items() if k != "token"}
    out["waiting_for"] = (data.get("pending_token") or {}).get("kind")
    return out
