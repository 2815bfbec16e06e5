"""The deployment manager (DESIGN §4): deployments as strategy workflows people can steer.

A deploy, update or retry of a component becomes a *deployment*: a record (status, steps, weights,
analysis results, approvals) and an execution that carries out the plan its strategy compiles to:
the shipped ``workflows/deployment-plan.asl.json`` (or the user's own ``strategy.workflow``) on the
durable engine (:mod:`pilothouse.services.strategy_workflows` ships and registers it). The
workflow's Task states call the ``deployment_*`` functions
(:mod:`pilothouse.services.deployment_tasks`); pauses and approvals are ``.waitForTaskToken``
tasks whose tokens the controls (:mod:`pilothouse.services.deployment_controls`) complete.
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
from pilothouse.domain.pending import PendingCommand
from pilothouse.errors import Conflict, NotFound, ValidationFailed
from pilothouse.repositories.deployments import DeploymentRepository
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

    pending = PendingCommand.model_validate(component["operation"])
    dep_id = pending.id
    existing = repo(services).get(dep_id)
    capability: str | None = None
    dep: dict[str, Any] | None = None
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
        for key in ("config_version", "restores_config_version", "config_head"):
            if pending.params.get(key) is not None:
                data[key] = pending.params[key]
        try:
            dep = repo(services).create(
                data, {"type": "created", "status": "pending", "actor": data["initiated_by"]}
            )
        except AlreadyExists:
            capability = None
    if dep is None:  # created before (a retried job), or by a racing one
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
    if not isinstance(dep_id, str) or not dep_id:
        return
    data = repo(services).get(dep_id)
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
