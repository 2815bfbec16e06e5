"""Azure Functions triggers (Python v2 programming model) in front of the suite's handlers.

The functions stay as they are (``functions/<name>/app.py``: a Lambda-shaped ``handler(event,
context)``); this adapter translates at the edge, with the converters the embedded cloud uses
(:mod:`pilothouse.runtime.events`), so there is one HTTP runtime to get right:

- ``func.HttpRequest`` → an API Gateway payload-2.0 event → the handler → ``func.HttpResponse``;
- ``func.QueueMessage`` → a one-record SQS batch → the handler. The message is the queue adapter's
  envelope (:func:`pilothouse.messaging.azure_queue.open_envelope`: our id, send time, attributes
  and the body, or a claim-check ``ref`` to a blob in ``pilothouse-queue-payloads`` for a large
  body); the host has already undone the Base64 (host.json ``messageEncoding: base64``). A record
  the handler reports as failed raises, so the Functions host makes the message visible again and,
  after the queue's ``maxDequeueCount`` (host.json), moves it to ``<queue>-poison`` (the claim-check
  blob stays where the envelope points); a handled message's claim-check blob is deleted;
- ``func.TimerRequest`` → an EventBridge scheduled event → the handler.

``azure.functions`` is imported here and only here (and by ``infra/azure/function_app.py``).
"""

# No `from __future__ import annotations`: the Functions worker reads the real annotations
# (func.HttpRequest, func.QueueMessage...) of the trigger bodies to pick each binding's converter.
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func

from pilothouse.messaging.azure_queue import AzureStorageQueue, open_envelope
from pilothouse.runtime.events import http_event, http_result, sqs_event, sqs_record
from pilothouse.runtime.instances import HandlerPool, InvocationContext

HOST = "azure-functions"
_log = logging.getLogger(__name__)


class QueueRecordFailed(RuntimeError):
    """The handler reported the message as failed: the host retries it, then poisons it."""


class ClaimGone(RuntimeError):
    """A claim-checked message whose blob is gone: it was handled already (the trigger deletes the
    blob only after the handler succeeded; the host then failed to delete the message, so it came
    back) or its queue was purged. Either way there is nothing left to do."""


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


class ClaimChecks:
    """Where a queue trigger reads (and, once handled, deletes) the blob of a large message: the
    queue adapter of this process's settings (``wiring``), made on the first large message."""

    def __init__(self, queue: Callable[[], AzureStorageQueue] | None = None) -> None:
        self._make = queue or _settings_queue
        self._queue: AzureStorageQueue | None = None
        self._lock = threading.Lock()

    @property
    def queue(self) -> AzureStorageQueue:
        with self._lock:
            if self._queue is None:
                self._queue = self._make()
            return self._queue

    def read(self, ref: str) -> str:
        from pilothouse.messaging.azure_queue import AzureQueueError

        try:
            return self.queue.payload(ref)
        except AzureQueueError as exc:
            if exc.code == "BlobNotFound":
                raise ClaimGone(ref) from exc
            raise

    def delete(self, ref: str) -> None:
        self.queue.delete_payload(ref)


def _settings_queue() -> AzureStorageQueue:
    from pilothouse.settings import get_settings
    from pilothouse.wiring import azure_connection

    s = get_settings()
    azure = azure_connection(s, "queue")
    return AzureStorageQueue(
        connection_string=azure.connection_string,
        account_url=azure.endpoint,
        blob_account_url=azure_connection(s, "blob").endpoint,
        credential=azure.credential,
    )


def queue_event_of(
    msg: func.QueueMessage, *, queue: str, claims: ClaimChecks | None = None
) -> dict[str, Any]:
    """A one-record SQS batch holding the Pilothouse message an Azure Storage queue message carries
    (its envelope's id, body, attributes and send time; a claim-checked body read from its blob)."""
    envelope = open_envelope(msg.get_body().decode("utf-8"))
    ref = envelope.get("ref")
    body = envelope["b"] if ref is None else (claims or ClaimChecks()).read(str(ref))
    # the worker passes azure.functions.queue.QueueMessage; the plain func.QueueMessage lacks these
    inserted = getattr(msg, "insertion_time", None)
    sent = envelope.get("t")
    return sqs_event(
        [
            sqs_record(
                queue,
                message_id=str(envelope["id"]),
                receipt_handle=msg.pop_receipt or "",
                body=str(body),
                receive_count=int(getattr(msg, "dequeue_count", None) or 1),
                sent_at=float(sent)
                if isinstance(sent, int | float)
                else (inserted.timestamp() if inserted else time.time()),
                attributes={str(k): str(v) for k, v in dict(envelope.get("a") or {}).items()} or None,
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
    pool: HandlerPool, *, name: str, queue: str, timeout: float, claims: ClaimChecks | None = None
) -> Callable[[func.QueueMessage], None]:
    """The body of a queue-triggered Azure function: one message, failed ones raise."""
    checks = claims or ClaimChecks()

    def run(msg: func.QueueMessage) -> None:
        context = InvocationContext(name, timeout, host=HOST)
        try:
            batch = queue_event_of(msg, queue=queue, claims=checks)
        except ClaimGone:
            _log.warning("%s: message %s of %s was handled already (its body is gone)", name, msg.id, queue)
            return  # the host deletes it
        with pool.instance() as handler:
            outcome = handler(batch, context)
        record = batch["Records"][0]
        if isinstance(outcome, dict) and outcome.get("batchItemFailures"):
            raise QueueRecordFailed(f"{name} could not handle message {record['messageId']} of {queue}")
        ref = open_envelope(msg.get_body().decode("utf-8")).get("ref")
        if ref is not None:  # handled: the host deletes the message, we delete its body
            checks.delete(str(ref))

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
