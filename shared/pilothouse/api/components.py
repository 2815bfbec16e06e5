"""Component endpoints: register, read, list, events, the lifecycle commands, deregister."""

from __future__ import annotations

import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response

from pilothouse.api import lazy
from pilothouse.api.component_reads import _resource, get_component
from pilothouse.domain.components import (
    NAME_PATTERN,
    ComponentSpec,
    DeployRequest,
    EmptyRequest,
    Environment,
    RetryRequest,
    ScaleRequest,
    UpdateRequest,
)
from pilothouse.domain.lifecycle import Command, State
from pilothouse.errors import NotFound
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import components as svc

TAG = "components"


def _page(items: list, cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": cursor}


@operation(
    summary="Register a component", tag=TAG, status=201, response="ComponentAnswer", audit_in_commit=True
)
def register_component(spec: ComponentSpec) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = f"component:{spec.name}"
    body = svc.register(ctx.services, spec, actor=ctx.actor, request_id=ctx.request_id)
    return json_response(body, 201, {"Location": f"/v1/components/{spec.name}"})


@operation(summary="List components", tag=TAG, response="ComponentPage")
def list_components(
    state: Annotated[State | None, lazy.Query(description="only components in this state")] = None,
    environment: Annotated[Environment | None, lazy.Query(description="only this environment")] = None,
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query(description="from next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_components(
        current().services,
        limit=limit,
        cursor=cursor,
        state=state.value if state else None,
        environment=environment,
    )
    return _page(items, next_cursor)


@operation(summary="A component's history", tag=TAG, resource=_resource, response="ComponentEventPage")
def component_events(
    name: str,
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query()] = None,
    order: Annotated[str, lazy.Query(pattern="^(asc|desc)$")] = "asc",
) -> dict[str, Any]:
    if not re.match(NAME_PATTERN, name):  # no component has such a name (a deregistered one's history stays)
        raise NotFound(f"no component is named {name[:100]!r}")
    items, next_cursor = svc.events(
        current().services, name, limit=limit, cursor=cursor, newest_first=order == "desc"
    )
    return _page(items, next_cursor)


@operation(summary="Deregister a component (history is kept)", tag=TAG, status=204, resource=_resource)
def deregister_component(name: str) -> Response[None]:
    ctx = current()
    svc.deregister(ctx.services, name, actor=ctx.actor, request_id=ctx.request_id)
    return Response(status_code=204, body=None)


def _command(name: str, cmd: Command, params: dict[str, Any]) -> Response[dict[str, Any]]:
    ctx = current()
    body = svc.command(ctx.services, name, cmd, params, actor=ctx.actor, request_id=ctx.request_id)
    return json_response(body, 202, {"Location": f"/v1/components/{name}"})


@operation(
    summary="Deploy a registered component",
    tag=TAG,
    status=202,
    resource=_resource,
    response="ComponentAnswer",
)
def deploy_component(name: str, request: DeployRequest | None = None) -> Response[dict[str, Any]]:
    return _command(name, Command.DEPLOY, (request or DeployRequest()).model_dump())


@operation(
    summary="Roll a running component to a new version and/or config",
    tag=TAG,
    status=202,
    resource=_resource,
    response="ComponentAnswer",
)
def update_component(name: str, request: UpdateRequest) -> Response[dict[str, Any]]:
    return _command(name, Command.UPDATE, request.model_dump())


@operation(
    summary="Change the number of replicas (200 and no transition when it has that many already)",
    tag=TAG,
    status=202,
    resource=_resource,
    response="ComponentAnswer",
    also=(200,),
)
def scale_component(name: str, request: ScaleRequest) -> Response[dict[str, Any]]:
    ctx = current()
    record = svc.get(ctx.services, name)
    if svc.scaled_already(record, request.replicas):  # nothing to do: no transition, no event
        return json_response(svc.view(record), 200, {"Location": f"/v1/components/{name}"})
    return _command(name, Command.SCALE, request.model_dump())


@operation(
    summary="Stop a running component", tag=TAG, status=202, resource=_resource, response="ComponentAnswer"
)
def stop_component(name: str, request: EmptyRequest | None = None) -> Response[dict[str, Any]]:
    return _command(name, Command.STOP, {})


@operation(
    summary="Deploy a failed component again",
    tag=TAG,
    status=202,
    resource=_resource,
    response="ComponentAnswer",
)
def retry_component(name: str, request: RetryRequest | None = None) -> Response[dict[str, Any]]:
    return _command(name, Command.RETRY, (request or RetryRequest()).model_dump(exclude_none=True))


OPERATIONS = [
    register_component,
    list_components,
    get_component,
    component_events,
    deregister_component,
    deploy_component,
    update_component,
    scale_component,
    stop_component,
    retry_component,
]
