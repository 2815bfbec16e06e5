"""Google Cloud Run functions (functions-framework) in front of the suite's handlers.

As on Azure (:mod:`pilothouse.runtime.azure_functions`), the functions stay Lambda-shaped and the
adapter translates at the edge with the embedded cloud's converters:

- a Flask request (an HTTP function) → an API Gateway payload-2.0 event → the handler → a Flask
  response;
- a CloudEvent ``google.cloud.pubsub.topic.v1.messagePublished`` (Eventarc, or a Pub/Sub push
  subscription's raw envelope, which functions-framework turns into that CloudEvent) → a one-record
  SQS batch → the handler; a failed record raises, functions-framework answers 500 and Pub/Sub
  redelivers, then dead-letters after the subscription's ``max_delivery_attempts``;
- a CloudEvent from a Cloud Scheduler job (through its Pub/Sub topic) → an EventBridge scheduled
  event → the sweep.

``flask`` and ``cloudevents`` are imported only by this module (and ``infra/gcp/main.py``).
:func:`pubsub_message` decodes the Pub/Sub message (base64 data, attributes) here, until the
Pub/Sub adapter's push-envelope decoder (``messaging/pubsub.py``) can be shared.
"""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pilothouse.runtime.events import http_event, http_result, sqs_event, sqs_record
from pilothouse.runtime.instances import HandlerPool, InvocationContext

if TYPE_CHECKING:
    import flask
    from cloudevents.http import CloudEvent

HOST = "gcp-functions"


class QueueRecordFailed(RuntimeError):
    """The handler reported the message as failed: Pub/Sub redelivers it, then dead-letters it."""


class NotAPubSubMessage(ValueError):
    """The CloudEvent carries no Pub/Sub message (wrong type, no data, data not base64 text)."""


@dataclass(frozen=True)
class PubSubMessage:
    """One Pub/Sub message as delivered: its text body and attributes."""

    message_id: str
    body: str
    attributes: dict[str, str] = field(default_factory=dict)
    #: the publish time, seconds since the epoch (now when the envelope does not say)
    published: float = 0.0
    #: Pub/Sub's delivery attempt (set when the subscription has a dead-letter policy)
    delivery_attempt: int = 1


def _published(text: Any) -> float:
    if not isinstance(text, str) or not text:
        return time.time()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()


def pubsub_message(data: Any) -> PubSubMessage:
    """The message of a ``messagePublished`` CloudEvent's data (``{"message": {...}}``).

    >>> m = pubsub_message({"message": {"data": "eyJhIjogMX0=", "messageId": "7", "attributes": {"k": "v"}}})
    >>> m.body, m.message_id, m.attributes
    ('{"a": 1}', '7', {'k': 'v'})
    """
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, dict):
        raise NotAPubSubMessage("the event's data holds no Pub/Sub message")
    try:
        body = base64.b64decode(message.get("data") or "", validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, TypeError) as exc:
        raise NotAPubSubMessage("the message's data is not base64-encoded UTF-8 text") from exc
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise NotAPubSubMessage("the message's attributes are not a map")
    attempt = data.get("deliveryAttempt") or message.get("deliveryAttempt") or 1
    return PubSubMessage(
        message_id=str(message.get("messageId") or message.get("message_id") or uuid.uuid4().hex),
        body=body,
        attributes={str(k): str(v) for k, v in attributes.items()},
        published=_published(message.get("publishTime") or message.get("publish_time")),
        delivery_attempt=int(attempt) if str(attempt).isdigit() else 1,
    )


def http_event_of(request: flask.Request, *, route: str, request_id: str | None = None) -> dict[str, Any]:
    """The API Gateway event of a Flask request matched to ``route`` (``/v1/x/{name}``)."""
    method = request.method.upper()
    forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip()
    return http_event(
        method,
        request.path,
        query=request.query_string.decode("latin-1"),
        headers=dict(request.headers.items()),
        body=request.get_data() or None,
        route_key=f"{method} {route}",
        path_parameters=_captures(route, request.path),
        source_ip=forwarded or request.remote_addr or "127.0.0.1",
        request_id=request_id,
    )


def _captures(route: str, path: str) -> dict[str, str] | None:
    """The path parameters of ``path`` under ``route`` (None when it does not match it)."""
    from urllib.parse import unquote

    want, got = route.strip("/").split("/"), path.strip("/").split("/")
    if len(want) != len(got):
        return None
    found: dict[str, str] = {}
    for pattern, part in zip(want, got, strict=True):
        if pattern.startswith("{") and pattern.endswith("}"):
            found[pattern[1:-1]] = unquote(part)
        elif pattern != part:
            return None
    return found or None


def flask_response_of(result: Any) -> flask.Response:
    """The Flask answer of a handler's payload-2.0 result."""
    import flask

    status, headers, body = http_result(result)
    return flask.Response(response=body, status=status, headers=headers)


def queue_event_of(event: CloudEvent, *, queue: str) -> dict[str, Any]:
    """A one-record SQS batch holding the Pub/Sub message of ``event``."""
    message = pubsub_message(event.get_data())
    return sqs_event(
        [
            sqs_record(
                queue,
                message_id=message.message_id,
                receipt_handle=str(event["id"]),
                body=message.body,
                receive_count=message.delivery_attempt,
                sent_at=message.published,
                attributes=message.attributes,
            )
        ]
    )


def schedule_event_of(event: CloudEvent, *, name: str) -> dict[str, Any]:
    """An EventBridge scheduled event for the Cloud Scheduler firing ``event`` carries."""
    return {
        "version": "0",
        "id": str(event["id"]),
        "detail-type": "Scheduled Event",
        "source": "gcp.scheduler",
        "time": str(event.get("time") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())),
        "resources": [f"{HOST}:scheduler:{name}"],
        "detail": {"source": str(event["source"])},
    }


def http_entry(
    pool: HandlerPool, *, name: str, route: str, timeout: float
) -> Callable[[flask.Request], flask.Response]:
    """The body of an HTTP function serving ``name`` at ``route``."""

    def run(request: flask.Request) -> flask.Response:
        context = InvocationContext(name, timeout, host=HOST)
        event = http_event_of(request, route=route, request_id=context.aws_request_id)
        with pool.instance() as handler:
            return flask_response_of(handler(event, context))

    run.pool = pool  # type: ignore[attr-defined]  # its instances (the load benchmark warms one)
    return run


def queue_entry(pool: HandlerPool, *, name: str, queue: str, timeout: float) -> Callable[[CloudEvent], None]:
    """The body of a CloudEvent function consuming ``queue``'s Pub/Sub messages."""

    def run(event: CloudEvent) -> None:
        context = InvocationContext(name, timeout, host=HOST)
        batch = queue_event_of(event, queue=queue)
        with pool.instance() as handler:
            outcome = handler(batch, context)
        if isinstance(outcome, dict) and outcome.get("batchItemFailures"):
            raise QueueRecordFailed(f"{name} could not handle message {batch['Records'][0]['messageId']}")

    run.pool = pool  # type: ignore[attr-defined]  # its instances (the load benchmark warms one)
    return run


def schedule_entry(pool: HandlerPool, *, name: str, timeout: float) -> Callable[[CloudEvent], None]:
    """The body of a CloudEvent function a Cloud Scheduler job fires (a sweep)."""

    def run(event: CloudEvent) -> None:
        context = InvocationContext(name, timeout, host=HOST)
        with pool.instance() as handler:
            handler(schedule_event_of(event, name=name), context)

    run.pool = pool  # type: ignore[attr-defined]  # its instances (the load benchmark warms one)
    return run
