"""Steering a deployment while its workflow runs: approve or reject a gate, promote past a pause,
pause and resume, abort, and the break-glass rollbacks (of a deployment, or of a component).

Gates and pauses are ``.waitForTaskToken`` tasks of the deployment's workflow: a control completes
the token the deployment record holds.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.deployments import FINAL
from pilothouse.domain.lifecycle import Command
from pilothouse.domain.security import Permission, Principal
from pilothouse.errors import Conflict, Forbidden
from pilothouse.services.context import ServiceContext
from pilothouse.services.deployment_records import end_step
from pilothouse.services.deployments import _start_strategy, get, repo
from pilothouse.services.strategy_workflows import ensure_workflow


def _live(data: dict[str, Any]) -> None:
    if data["status"] in FINAL:
        raise Conflict(
            f"deployment {data['id']} has ended ({data['status']})", extra={"status": data["status"]}
        )


#: what a deployment waits for (the kind of its pending token), and the controls that answer it
WAITS = {
    "approval": ("an approval", ("approve", "reject")),
    "pause": ("a promotion past its pause", ("promote",)),
    "gate": ("a resume (it was paused)", ("resume",)),
}


def _token_of(data: dict[str, Any], *kinds: str) -> str:
    pending = data.get("pending_token")
    if not pending or pending["kind"] not in kinds:
        wanted = " or ".join(WAITS[k][0] for k in kinds)
        extra: dict[str, Any] = {
            "status": data["status"],
            "waiting_for": pending["kind"] if pending else None,
        }
        if pending and pending["kind"] in WAITS:
            what, controls = WAITS[pending["kind"]]
            extra["answered_by"] = list(controls)
            detail = (
                f"deployment {data['id']} is not waiting for {wanted}: it waits for {what}; answer it with: "
                + " or ".join(f"pilothouse deployments {c} {data['id']}" for c in controls)
            )
        else:
            detail = (
                f"deployment {data['id']} is not waiting for {wanted}: it waits for nothing now "
                f"(status {data['status']}); pilothouse deployments get {data['id']} shows where it is"
            )
        raise Conflict(detail, extra=extra)
    return pending["token"]


def _end_waiting_step(d: dict[str, Any], status: str, now: str) -> None:
    """The step the answered token belonged to has ended now (approved, rejected, promoted past)."""
    index = (d.get("pending_token") or {}).get("index")
    if isinstance(index, int) and 0 <= index < len(d["steps"]) and d["steps"][index]["status"] == "waiting":
        end_step(d["steps"][index], status, now)


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
        _end_waiting_step(d, "succeeded" if approve else "failed", decision["at"])
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
            _end_waiting_step(d, "succeeded", iso(services.clock.time()))
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
    if data["status"] == "succeeded":
        rollback = f"POST /v1/components/{data['component']}/rollback"
        raise Conflict(
            f"deployment {deployment_id} has ended (succeeded); roll its component back to the "
            f"revision it replaced (version and config) with {rollback}",
            extra={"status": data["status"]},
        )
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
    (or named) version at once, skipping gates and analysis. Returns the component's view.

    The previous revision is the version *and config* the last succeeded update or rollback
    replaced: its config runs again, and once the rollback succeeded a new config version restores
    the one that revision ran with (:func:`pilothouse.services.config.deployment_ended`). A named
    version other than the previous revision's keeps the config that runs."""
    from pilothouse.services import components, config_restore

    record = components.get(services, name)
    op = record.data.get("operation")
    if op and repo(services).get(op["id"]) is not None:
        break_glass(services, op["id"], actor=actor, reason="break-glass rollback of the component")
        return components.view(components.get(services, name))
    previous = record.data.get("previous_revision") or {}
    target = version or previous.get("version") or record.data.get("previous_version")
    if not target:
        raise Conflict(
            f"component {name!r} has no previous version to roll back to; name one",
            extra={"field": "version"},
        )
    params: dict[str, Any] = {"version": target}
    if previous and target == previous.get("version") and previous.get("config") is not None:
        params["config"] = previous["config"]
        environment = record.data["spec"]["environment"]
        params["restores_config_version"] = config_restore.version_running(
            services, name, environment, previous["config"]
        )
        params["config_head"] = config_restore.head_version(services, name, environment)
    return components.command(
        services,
        name,
        Command.ROLLBACK,
        {
            **params,
            "strategy": {
                "type": "custom",
                "preset": "rollback",
                "steps": [{"kind": "prepare"}, {"kind": "set_weight", "weight": 100}],
            },
        },
        actor=actor,
        request_id=request_id,
        break_glass=True,
    )
