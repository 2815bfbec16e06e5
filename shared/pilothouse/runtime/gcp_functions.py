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

The Pub/Sub message is decoded by the queue adapter's push decoder
(:func:`pilothouse.messaging.pubsub.decode_push`): the port's own message id, send time and
attributes (``ph-*`` ones removed), Pub/Sub's delivery attempt as the receive count. A delayed
message (the port's ``delay_seconds``: Pub/Sub has none) that arrives before it is due raises
:class:`NotYetDue` before the handler runs: functions-framework answers 500, Pub/Sub nacks it and
pushes it again after the subscription's retry back-off (infra/gcp: 60..600 s). Each early push
counts as a delivery attempt; the subscriptions' ``max_delivery_attempts`` leaves room for them.

``flask`` and ``cloudevents`` are imported only by this module (and ``infra/gcp/main.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pilothouse.messaging.pubsub import decode_push
from pilothouse.runtime.events import http_event, http_result, sqs_event, sqs_record
from pilothouse.runtime.instances import HandlerPool, InvocationContext

if TYPE_CHECKING:
    import flask
    from cloudevents.http import CloudEvent

HOST = "gcp-functions"


class QueueRecordFailed(RuntimeError):
    """The handler reported the message as failed: Pub/Sub redelivers it, then dead-letters it."""


class NotYetDue(RuntimeError):
    """A delayed message pushed before its time: refused, so Pub/Sub pushes it again later."""

    def __init__(self, message_id: str, due_in: float) -> None:
        super().__init__(f"message {message_id} is due in {due_in:.0f} s: refused for redelivery")
        self.message_id = message_id
        self.due_in = due_in


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


def queue_event_of(event: CloudEvent, *, queue: str, now: float | None = None) -> dict[str, Any]:
    """A one-record SQS batch holding the Pub/Sub message of ``event``.

    Raises :class:`~pilothouse.messaging.base.InvalidParameter` when the event holds no Pub/Sub
    message and :class:`NotYetDue` when its message is a delayed one pushed early."""
    push = decode_push({"data": event.get_data()}, now=now)
    message = push.message
    if push.due_in > 0:
        raise NotYetDue(message.id, push.due_in)
    return sqs_event(
        [
            sqs_record(
                queue,
                message_id=message.id,
                receipt_handle=str(event["id"]),
                body=message.body,
                receive_count=message.receive_count,
                sent_at=message.sent_at or time.time(),
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
