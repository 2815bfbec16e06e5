"""Deployment endpoints: records, controls (approve, promote, pause, abort, rollback), freezes, promotions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from pilothouse.api import lazy
from pilothouse.domain.components import NAME_PATTERN
from pilothouse.domain.deployments import STATUSES
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import deployment_controls as controls
from pilothouse.services import deployments as svc
from pilothouse.services import freezes, promotions

TAG = "deployments"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Comment(Strict):
    comment: str = Field(default="", max_length=2000)


class Reason(Strict):
    reason: str = Field(default="", max_length=2000)


class Promote(Strict):
    full: bool = Field(default=False, description="skip every remaining pause and analysis")


class RollbackComponent(Strict):
    version: str | None = Field(default=None, description="default: the previous version")


class FreezeRequest(Strict):
    scope: Literal["component", "environment"]
    target: str = Field(pattern=NAME_PATTERN, description="a component's or an environment's name")
    reason: str = Field(min_length=1, max_length=2000)
    replace: bool = Field(
        default=False, description="a target frozen already gets this reason (else its freeze stays as it is)"
    )


class PromotionRequest(Strict):
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    strategy: str | dict[str, Any] | None = None


def _resource(p: dict[str, str]) -> str | None:
    return f"deployment:{p['deployment_id']}" if "deployment_id" in p else None


@operation(summary="List deployments, newest first", tag=TAG, response="DeploymentPage")
def list_deployments(
    component: Annotated[str | None, lazy.Query()] = None,
    environment: Annotated[str | None, lazy.Query()] = None,
    status: Annotated[str | None, lazy.Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_deployments(
        current().services,
        limit=limit,
        cursor=cursor,
        component=component,
        environment=environment,
        status=status,
    )
    return {"items": [svc.view(d) for d in items], "next_cursor": next_cursor}


@operation(
    summary="A deployment: steps, weights, analysis, approvals",
    tag=TAG,
    resource=_resource,
    response="DeploymentAnswer",
)
def get_deployment(deployment_id: str) -> dict[str, Any]:
    return svc.view(svc.get(current().services, deployment_id))


@operation(summary="A deployment's events", tag=TAG, resource=_resource, response="DeploymentEventPage")
def deployment_events(
    deployment_id: str,
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.events(current().services, deployment_id, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@operation(
    summary="Approve the gate a deployment waits at", tag=TAG, resource=_resource, response="DeploymentAnswer"
)
def approve_deployment(deployment_id: str, request: Comment | None = None) -> dict[str, Any]:
    ctx = current()
    return svc.view(
        controls.approve(ctx.services, deployment_id, ctx.caller, comment=(request or Comment()).comment)
    )


@operation(
    summary="Reject the gate a deployment waits at (it rolls back)",
    tag=TAG,
    resource=_resource,
    response="DeploymentAnswer",
)
def reject_deployment(deployment_id: str, request: Reason | None = None) -> dict[str, Any]:
    ctx = current()
    return svc.view(
        controls.approve(
            ctx.services, deployment_id, ctx.caller, comment=(request or Reason()).reason, approve=False
        )
    )


@operation(
    summary="End the current pause (or, full, skip all remaining pauses and analyses)",
    tag=TAG,
    resource=_resource,
    response="DeploymentAnswer",
)
def promote_deployment(deployment_id: str, request: Promote | None = None) -> dict[str, Any]:
    ctx = current()
    return svc.view(
        controls.promote(ctx.services, deployment_id, full=(request or Promote()).full, actor=ctx.actor)
    )


@operation(
    summary="Hold the deployment before its next step",
    tag=TAG,
    resource=_resource,
    response="DeploymentAnswer",
)
def pause_deployment(deployment_id: str) -> dict[str, Any]:
    ctx = current()
    return svc.view(controls.pause(ctx.services, deployment_id, actor=ctx.actor))


@operation(summary="Resume a paused deployment", tag=TAG, resource=_resource, response="DeploymentAnswer")
def resume_deployment(deployment_id: str) -> dict[str, Any]:
    ctx = current()
    return svc.view(controls.resume(ctx.services, deployment_id, actor=ctx.actor))


@operation(
    summary="Abort: go back to the stable version at the next opportunity",
    tag=TAG,
    resource=_resource,
    response="DeploymentAnswer",
)
def abort_deployment(deployment_id: str, request: Reason | None = None) -> dict[str, Any]:
    ctx = current()
    return svc.view(
        controls.abort(ctx.services, deployment_id, actor=ctx.actor, reason=(request or Reason()).reason)
    )


@operation(
    summary="Break-glass rollback: now, skipping gates and analysis",
    tag=TAG,
    resource=_resource,
    response="DeploymentAnswer",
)
def rollback_deployment(deployment_id: str, request: Reason | None = None) -> dict[str, Any]:
    ctx = current()
    return svc.view(
        controls.break_glass(
            ctx.services, deployment_id, actor=ctx.actor, reason=(request or Reason()).reason
        )
    )


@operation(
    summary="Break-glass rollback of a component to its previous (or a named) version",
    tag=TAG,
    resource=lambda p: f"component:{p.get('name')}",
    status=202,
    response="ComponentAnswer",
)
def rollback_component(name: str, request: RollbackComponent | None = None) -> Response[dict[str, Any]]:
    ctx = current()
    component = controls.rollback_component(
        ctx.services,
        name,
        version=(request or RollbackComponent()).version,
        actor=ctx.actor,
        request_id=ctx.request_id,
    )
    return json_response(component, 202)


@operation(summary="Frozen components and environments", tag=TAG, response="FreezeList")
def list_freezes() -> dict[str, Any]:
    return {"items": freezes.list_freezes(current().services)}


@operation(
    summary="Freeze a component or an environment (200 with the freeze that stays if it is frozen already)",
    tag=TAG,
    status=201,
    response="Freeze",
    also=(200,),
)
def freeze(request: FreezeRequest) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = f"{request.scope}:{request.target}"
    data, changed = freezes.freeze(
        ctx.services, request.scope, request.target, request.reason, actor=ctx.actor, replace=request.replace
    )
    return json_response(data, 201 if changed else 200)


@operation(summary="Unfreeze", tag=TAG, status=204, resource=lambda p: f"{p.get('scope')}:{p.get('target')}")
def unfreeze(scope: str, target: str) -> Response[None]:
    freezes.unfreeze(current().services, scope, target)
    return Response(status_code=204, body=None)


@operation(
    summary="Promote the version running in one environment to the next",
    tag=TAG,
    status=201,
    response="ExecutionAnswer",  # the promotion's execution
    errors=(404,),  # no such source or target component
)
def start_promotion(request: PromotionRequest) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = f"component:{request.target}"
    body = promotions.start_promotion(
        ctx.services, source=request.source, target=request.target, strategy=request.strategy, actor=ctx.actor
    )
    return json_response(body, 201)


OPERATIONS = [
    list_deployments,
    get_deployment,
    deployment_events,
    approve_deployment,
    reject_deployment,
    promote_deployment,
    pause_deployment,
    resume_deployment,
    abort_deployment,
    rollback_deployment,
    rollback_component,
    list_freezes,
    freeze,
    unfreeze,
    start_promotion,
]
