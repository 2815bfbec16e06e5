"""Notification endpoints: channels (create, list, get, delete, test), delivery logs, redelivery."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import Response

from pilothouse.api import lazy
from pilothouse.domain.notifications import ChannelRequest
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation
from pilothouse.services import notifications as svc

TAG = "notifications"


def _resource(params: dict[str, str]) -> str | None:
    return f"notification-channel:{params.get('name')}"


@operation(
    summary="Create a notification channel (a webhook's signing secret is shown once)",
    tag=TAG,
    status=201,
    secret_fields=("secret",),
    errors=(409,),
    response="NewNotificationChannel",
)
def create_notification_channel(request: ChannelRequest) -> Response[dict[str, Any]]:
    ctx = current()
    ctx.resource = f"notification-channel:{request.name}"
    view, secret = svc.create_channel(ctx.services, request, actor=ctx.actor)
    body = {**view, **({"secret": secret} if secret is not None else {})}
    return json_response(body, 201, {"Location": f"/v1/notifications/channels/{request.name}"})


@operation(summary="List notification channels", tag=TAG, response="NotificationChannelList")
def list_notification_channels() -> dict[str, Any]:
    return {"items": svc.list_channels(current().services)}


@operation(summary="Get a notification channel", tag=TAG, resource=_resource, response="NotificationChannel")
def get_notification_channel(name: str) -> dict[str, Any]:
    return svc.get_channel(current().services, name)


@operation(
    summary="Delete a notification channel (its delivery log stays)", tag=TAG, status=204, resource=_resource
)
def delete_notification_channel(name: str) -> Response[None]:
    svc.delete_channel(current().services, name)
    return Response(status_code=204, body=None)


@operation(
    summary="Send a test notification to one channel",
    tag=TAG,
    status=202,
    resource=_resource,
    response="NotificationDelivery",
)
def test_notification_channel(name: str) -> Response[dict[str, Any]]:
    ctx = current()
    return json_response(svc.test_channel(ctx.services, name, actor=ctx.actor), 202)


@operation(
    summary="A channel's delivery log, newest first",
    tag=TAG,
    resource=_resource,
    response="NotificationDeliveryPage",
)
def list_notification_deliveries(
    name: str,
    status: Annotated[
        Literal["pending", "sending", "retrying", "delivered", "dead_lettered"] | None,
        lazy.Query(description="only deliveries in this status (dead_lettered: the dead-letter queue)"),
    ] = None,
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    items, next_cursor = svc.list_deliveries(
        current().services, name, limit=limit, cursor=cursor, status=status
    )
    return {"items": items, "next_cursor": next_cursor}


@operation(
    summary="Send a delivered or dead-lettered notification again",
    tag=TAG,
    status=202,
    resource=_resource,
    errors=(409,),
    response="NotificationDelivery",
)
def redeliver_notification(name: str, delivery: str) -> Response[dict[str, Any]]:
    ctx = current()
    return json_response(svc.redeliver(ctx.services, name, delivery, actor=ctx.actor), 202)


OPERATIONS = [
    create_notification_channel,
    list_notification_channels,
    get_notification_channel,
    delete_notification_channel,
    test_notification_channel,
    list_notification_deliveries,
    redeliver_notification,
]
