"""Azure Functions triggers (Python v2 programming model) in front of the suite's handlers.

The functions stay as they are (``functions/<name>/app.py``: a Lambda-shaped ``handler(event,
context)``); this adapter translates at the edge, with the converters the embedded cloud uses
(:mod:`pilothouse.runtime.events`), so there is one HTTP runtime to get right:

- ``func.HttpRequest`` → an API Gateway payload-2.0 event → the handler → ``func.HttpResponse``;
- ``func.QueueMessage`` → a one-record SQS batch → the handler; a record the handler reports as
  failed raises, so the Functions host makes the message visible again and, after the queue's
  ``maxDequeueCount`` (host.json), moves it to ``<queue>-poison``;
- ``func.TimerRequest`` → an EventBridge scheduled event → the handler.

``azure.functions`` is imported here and only here (and by ``infra/azure/function_app.py``).
"""

# No `from __future__ import annotations`: the Functions worker reads the real annotations
# (func.HttpRequest, func.QueueMessage...) of the trigger bodies to pick each binding's converter.
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from pilothouse.runtime.events import http_event, http_result, sqs_event, sqs_record
from pilothouse.runtime.instances import HandlerPool, InvocationContext

HOST = "azure-functions"


class QueueRecordFailed(RuntimeError):
    """The handler reported the message as failed: the host retries it, then poisons it."""


def _client_ip(req: func.HttpRequest) -> str:
    """The caller's address as the front end forwarded it (``X-Forwarded-For``, port dropped)."""
    forwarded = (req.headers.get("x-forwarded-for") or "").split(",")[0].strip()
    if forwarded.startswith("["):  # [v6]:port
        return forwarded[1:].split("]")[0]
    if forwarded.count(":") == 1:  # v4:port
        return forwarded.split(":")[0]
    return forwarded or "127.0.0.1"


def http_event_of(req: func.HttpRequest, *, route: str, request_id: str | None = None) -> dict[str, Any]:
    """The API Gateway event of an Azure HTTP request matched to ``route`` (``/v1/x/{name}``)."""
    url = urlsplit(req.url)
    method = req.method.upper()
    body = req.get_body()
    return http_event(
        method,
        url.path or "/",
        query=url.query,
        headers=dict(req.headers.items()),
        body=body or None,
        route_key=f"{method} {route}",
        path_parameters=dict(req.route_params) or None,
        source_ip=_client_ip(req),
        request_id=request_id,
    )


def http_response_of(result: Any) -> func.HttpResponse:
    """The Azure answer of a handler's payload-2.0 result."""
    status, headers, body = http_result(result)
    return func.HttpResponse(body=body, status_code=status, headers=headers)


def queue_event_of(msg: func.QueueMessage, *, queue: str) -> dict[str, Any]:
    """A one-record SQS batch holding an Azure Storage queue message (its text body as sent)."""
    # the worker passes azure.functions.queue.QueueMessage; the plain func.QueueMessage lacks these
    inserted = getattr(msg, "insertion_time", None)
    return sqs_event(
        [
            sqs_record(
                queue,
                message_id=msg.id or uuid.uuid4().hex,
                receipt_handle=msg.pop_receipt or "",
                body=msg.get_body().decode("utf-8"),
                receive_count=int(getattr(msg, "dequeue_count", None) or 1),
                sent_at=inserted.timestamp() if inserted else time.time(),
            )
        ]
    )


def timer_event_of(timer: func.TimerRequest, *, name: str, now: float | None = None) -> dict[str, Any]:
    """An EventBridge scheduled event for one firing of ``name``'s timer."""
    at = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return {
        "version": "0",
        "id": uuid.uuid4().hex,
        "detail-type": "Scheduled Event",
        "source": "azure.timer",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": [f"{HOST}:timer:{name}"],
        "detail": {"past_due": bool(timer.past_due)},
    }


def http_trigger(
    pool: HandlerPool, *, name: str, route: str, timeout: float
) -> Callable[[func.HttpRequest], func.HttpResponse]:
    """The body of an HTTP-triggered Azure function serving ``name`` at ``route``."""

    def run(req: func.HttpRequest) -> func.HttpResponse:
        context = InvocationContext(name, timeout, host=HOST)
        event = http_event_of(req, route=route, request_id=context.aws_request_id)
        with pool.instance() as handler:
            return http_response_of(handler(event, context))

    run.pool = pool  # type: ignore[attr-defined]  # its instances (the load benchmark warms one)
    return run


def queue_trigger(
    pool: HandlerPool, *, name: str, queue: str, timeout: float
) -> Callable[[func.QueueMessage], None]:
    """The body of a queue-triggered Azure function: one message, failed ones raise."""

    def run(msg: func.QueueMessage) -> None:
        context = InvocationContext(name, timeout, host=HOST)
        with pool.instance() as handler:
            outcome = handler(queue_event_of(msg, queue=queue), context)
        if isinstance(outcome, dict) and outcome.get("batchItemFailures"):
            raise QueueRecordFailed(f"{name} could not handle message {msg.id} of {queue}")

    run.pool = pool  # type: ignore[attr-defined]  # its instances (the load benchmark warms one)
    return run


def timer_trigger(pool: HandlerPool, *, name: str, timeout: float) -> Callable[[func.TimerRequest], None]:
    """The body of a timer-triggered Azure function (a sweep)."""

    def run(timer: func.TimerRequest) -> None:
        context = InvocationContext(name, timeout, host=HOST)
        with pool.instance() as handler:
            handler(timer_event_of(timer, name=name), context)

    run.pool = pool  # type: ignore[attr-defined]  # its instances (the load benchmark warms one)
    return run
