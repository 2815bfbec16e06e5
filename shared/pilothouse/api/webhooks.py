"""Inbound webhook endpoints: the receiver (public: a delivery proves itself by its signature), the
sources (admin: each has a secret shown once), and their deliveries (kept, replayable by an admin)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response

from pilothouse.api import lazy
from pilothouse.domain.webhooks import SourceChange, SourceSpec
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import webhooks as svc

TAG = "webhooks"


def _resource(params: dict[str, str]) -> str | None:
    name = params.get("name") or params.get("source")
    return f"webhook-source:{name}" if name else None


def _page(items: list, cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": cursor}


@operation(
    summary="Receive a webhook delivery (GitHub, GitLab or generic signed); 202 once queued",
    tag=TAG,
    status=202,
    resource=_resource,
    also=(200,),
    errors=(401,),
    response="WebhookReceipt",
)
def receive_webhook(source: str) -> Response[dict[str, Any]]:
    ctx = current()
    event = ctx.notes.get("event") or {}
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body") or ""
    body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
    status, answer = svc.receive(ctx.services, source, headers, body)
    return json_response(answer, status)


@operation(
    summary="Register a webhook source; the answer shows its secret, once",
    tag=TAG,
    status=201,
    secret_fields=("secret",),
    response="NewWebhookSourceAnswer",
)
def create_webhook_source(spec: SourceSpec) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = f"webhook-source:{spec.name}"
    body = svc.create(ctx.services, spec, actor=ctx.actor)
    return json_response(body, 201, {"Location": f"/v1/webhook-sources/{spec.name}"})


@operation(summary="List webhook sources", tag=TAG, response="WebhookSourcePage")
def list_webhook_sources(
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_sources(current().services, limit=limit, cursor=cursor)
    return _page(items, next_cursor)


@operation(
    summary="Get a webhook source (never its secret)",
    tag=TAG,
    resource=_resource,
    response="WebhookSourceAnswer",
)
def get_webhook_source(name: str) -> dict[str, Any]:
    return svc.get(current().services, name)


@operation(
    summary="Change a webhook source's rules", tag=TAG, resource=_resource, response="WebhookSourceAnswer"
)
def update_webhook_source(name: str, change: SourceChange) -> dict[str, Any]:
    ctx = current()
    return svc.change(ctx.services, name, change, actor=ctx.actor)


@operation(summary="Delete a webhook source", tag=TAG, status=204, resource=_resource)
def delete_webhook_source(name: str) -> Response[None]:
    svc.delete(current().services, name)
    return Response(status_code=204, body=None)


@operation(
    summary="Rotate a webhook source's secret (the new one is shown once)",
    tag=TAG,
    resource=_resource,
    secret_fields=("secret",),
    response="NewWebhookSourceAnswer",
)
def rotate_webhook_secret(name: str) -> dict[str, Any]:
    ctx = current()
    return svc.rotate(ctx.services, name, actor=ctx.actor)


@operation(
    summary="A source's deliveries with their outcome, newest first",
    tag=TAG,
    resource=_resource,
    response="WebhookDeliveryPage",
)
def list_webhook_deliveries(
    name: str,
    limit: Annotated[int, lazy.Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.deliveries(current().services, name, limit=limit, cursor=cursor)
    return _page(items, next_cursor)


@operation(
    summary="Process a kept delivery again",
    tag=TAG,
    status=202,
    resource=_resource,
    response="WebhookDeliveryAnswer",
)
def replay_webhook_delivery(name: str, delivery_id: str) -> Response[dict[str, Any]]:
    ctx = current()
    return json_response(svc.replay(ctx.services, name, delivery_id, actor=ctx.actor), 202)


OPERATIONS = [
    receive_webhook,
    create_webhook_source,
    list_webhook_sources,
    get_webhook_source,
    update_webhook_source,
    delete_webhook_source,
    rotate_webhook_secret,
    list_webhook_deliveries,
    replay_webhook_delivery,
]
