"""System endpoints: register, read, list, change, delete, and the rollouts (deploy, update,
promote, stop) that move every member in dependency order."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response

from pilothouse.api import lazy
from pilothouse.domain.systems import (
    SystemChange,
    SystemDeployRequest,
    SystemPromoteRequest,
    SystemSpec,
    SystemUpdateRequest,
)
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import systems as svc

TAG = "systems"


def _resource(params: dict[str, str]) -> str | None:
    return f"system:{params['name']}" if "name" in params else None


def _page(items: list, cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": cursor}


@operation(
    summary="Register a system of components (its dependency graph is checked)",
    tag=TAG,
    status=201,
    response="SystemAnswer",
)
def create_system(spec: SystemSpec) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = f"system:{spec.name}"
    body = svc.create(ctx.services, spec, actor=ctx.actor)
    return json_response(body, 201, {"Location": f"/v1/systems/{spec.name}"})


@operation(summary="List systems", tag=TAG, response="SystemPage")
def list_systems(
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query(description="from next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_systems(current().services, limit=limit, cursor=cursor)
    return _page(items, next_cursor)


@operation(
    summary="Get a system: members, health, version set, latest rollout",
    tag=TAG,
    resource=_resource,
    response="SystemAnswer",
)
def get_system(name: str) -> dict[str, Any]:
    return svc.get(current().services, name)


@operation(
    summary="Change a system's members or settings", tag=TAG, resource=_resource, response="SystemAnswer"
)
def update_system(name: str, change: SystemChange) -> dict[str, Any]:
    ctx = current()
    return svc.change(ctx.services, name, change, actor=ctx.actor)


@operation(summary="Forget a system (its components stay)", tag=TAG, status=204, resource=_resource)
def delete_system(name: str) -> Response[None]:
    svc.delete(current().services, name)
    return Response(status_code=204, body=None)


@operation(
    summary="A system's rollouts, newest first", tag=TAG, resource=_resource, response="SystemRolloutPage"
)
def system_rollouts(
    name: str,
    limit: Annotated[int, lazy.Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.rollouts(current().services, name, limit=limit, cursor=cursor)
    return _page(items, next_cursor)


def _started(name: str, body: dict[str, Any]) -> Response[dict[str, Any]]:
    return json_response(body, 202, {"Location": f"/v1/systems/{name}"})


@operation(
    summary="Deploy every member in dependency order",
    tag=TAG,
    status=202,
    resource=_resource,
    response="SystemAnswer",
)
def deploy_system(name: str, request: SystemDeployRequest | None = None) -> Response[dict[str, Any]]:
    ctx, req = current(), request or SystemDeployRequest()
    body = svc.start_rollout(
        ctx.services, name, "deploy", actor=ctx.actor, versions=req.versions, max_parallel=req.max_parallel
    )
    return _started(name, body)


@operation(
    summary="Update the named members to new versions",
    tag=TAG,
    status=202,
    resource=_resource,
    response="SystemAnswer",
)
def rollout_system(name: str, request: SystemUpdateRequest) -> Response[dict[str, Any]]:
    ctx = current()
    body = svc.start_rollout(
        ctx.services,
        name,
        "update",
        actor=ctx.actor,
        versions=request.versions,
        max_parallel=request.max_parallel,
    )
    return _started(name, body)


@operation(
    summary="Promote the whole system to its twin in the next environment",
    tag=TAG,
    status=202,
    resource=_resource,
    response="SystemAnswer",
)
def promote_system(name: str, request: SystemPromoteRequest) -> Response[dict[str, Any]]:
    ctx = current()
    body = svc.promote(ctx.services, name, request.to, actor=ctx.actor, max_parallel=request.max_parallel)
    return _started(request.to, body)


@operation(
    summary="Stop every member, dependents first",
    tag=TAG,
    status=202,
    resource=_resource,
    response="SystemAnswer",
)
def stop_system(name: str) -> Response[dict[str, Any]]:
    ctx = current()
    return _started(name, svc.start_rollout(ctx.services, name, "stop", actor=ctx.actor))


OPERATIONS = [
    create_system,
    list_systems,
    get_system,
    update_system,
    delete_system,
    system_rollouts,
    deploy_system,
    rollout_system,
    promote_system,
    stop_system,
]
