"""The queue port on Amazon SQS standard queues (semantics: see :mod:`.base`).

    queue = SqsQueue(region="eu-west-1", name_prefix="prod-")
    queue.declare(QueueSpec("jobs-dlq"))
    queue.declare(
        QueueSpec("jobs", visibility_timeout=900, max_receive_count=5, dead_letter_queue="jobs-dlq")
    )

boto3 is imported when an adapter is created, never when :mod:`pilothouse.messaging` is. Port
names map to SQS queue names as ``name_prefix + name``; their URLs are looked up once and cached.

Where SQS's API is coarser than the port:

* ``DelaySeconds``, ``VisibilityTimeout`` and ``WaitTimeSeconds`` are whole seconds. Fractional
  delays and visibility timeouts are rounded *up* (a message never shows before it was asked to).
  A fractional ``wait_seconds`` long-polls for the whole seconds and short-polls (every 50 ms)
  for the remainder, so a receive never waits longer than asked.
* ``send_batch`` sends ``SendMessageBatch`` requests of at most 10 messages and 256 KiB each. It
  is not atomic: if a chunk fails, earlier chunks stay sent (the error names the failed entries).
* Message attributes are sent as ``String`` attributes. SQS rejects empty values, more than 10
  attributes, and names outside ``[A-Za-z0-9_.-]`` (or starting with ``AWS.``/``Amazon.``); such
  messages fail with :class:`SqsError` (code ``InvalidParameterValue``, ``MessageAttributesInvalid``...).
* The port's 256 KiB limit is checked before sending (SQS itself now allows up to 1 MiB, and also
  counts each attribute's data type, so a message right at the limit with attributes may still
  be refused by SQS: that refusal also raises :class:`MessageTooLarge`).
* ``delete`` ignores a receipt handle SQS calls invalid (stale or already deleted), as the port
  asks. SQS documents that deleting with a stale handle "succeeds, but the message might not be
  deleted" -- it may still be deleted.
* ``purge``: SQS allows one purge per queue every 60 s (``PurgeQueueInProgress`` otherwise) and
  may take up to 60 s to finish; messages sent meanwhile may be purged too.
* Standard queues are at-least-once and only roughly ordered, and a short-polling receive samples
  a subset of SQS's servers: a receive may miss messages that are there, or (rarely) return a
  message twice. ``depth`` counts are approximate (they settle within about a minute).
* ``declare`` needs ``sqs:CreateQueue``/``SetQueueAttributes``/``GetQueueAttributes``. Deployed
  queues are owned by the CloudFormation template, so the wiring does not declare them.

The contract suite runs this adapter against moto; where moto's SQS differs from SQS (stale
receipt handles, receive counts in the DLQ, concurrent receives) is listed, with reasons, in
``_MOTO_SQS_DEVIATIONS`` of ``tests/contract/test_queue_contract.py``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from typing import Any

from pilothouse.messaging.base import (
    MAX_MESSAGE_BYTES,
    InvalidReceiptHandle,
    Message,
    MessageTooLarge,
    MessagingError,
    QueueNotFound,
    QueueSpec,
    check_delay,
    check_message,
    check_receive,
    check_spec,
    check_visibility,
)

_BATCH_SIZE = 10
_SHORT_POLL_INTERVAL = 0.05
_NOT_FOUND = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
_ALREADY_EXISTS = {"QueueAlreadyExists", "QueueNameExists", "AWS.SimpleQueueService.QueueNameExists"}
_BAD_RECEIPT = {
    "ReceiptHandleIsInvalid",
    "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
}
_TOO_LARGE = {"BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", "MessageTooLong"}
_SYSTEM_ATTRIBUTES = ["ApproximateReceiveCount", "SentTimestamp"]
_DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


class SqsError(MessagingError):
    """An SQS request failed for a reason the port has no error for; ``code`` is AWS's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _seconds(value: float) -> int:
    """Whole seconds for SQS, rounded up (so nothing happens earlier than asked)."""
    return math.ceil(value)


def _size(body: str, attributes: dict[str, str] | None) -> int:
    return len(body.encode("utf-8")) + sum(
        len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in (attributes or {}).items()
    )


class SqsQueue:
    """Named SQS standard queues. ``client`` (a boto3 SQS client) wins over ``region``/``endpoint_url``."""

    def __init__(
        self,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        name_prefix: str = "",
    ) -> None:
        from botocore.exceptions import ClientError

        if client is None:
            import boto3

            client = boto3.client("sqs", region_name=region, endpoint_url=endpoint_url)
        self._client = client
        self._client_error = ClientError
        self.name_prefix = name_prefix
        self._urls: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- errors and URLs ---------------------------------------------------------------------------

    def _error(self, exc: Exception, queue: str, operation: str) -> MessagingError:
        error = getattr(exc, "response", {}).get("Error", {})
        code, text = str(error.get("Code", "")), str(error.get("Message", ""))
        if code in _NOT_FOUND:
            with self._lock:
                self._urls.pop(queue, None)  # deleted behind our back: look it up again next time
            return QueueNotFound(queue)
        if code in _TOO_LARGE or (code == "InvalidParameterValue" and "shorter than" in text):
            return MessageTooLarge(f"SQS refused the message for {queue!r} as too large: {text}")
        return SqsError(f"SQS {operation} on queue {queue!r} failed: {code}: {text}", code)

    def _call(self, operation: str, queue: str, **params: Any) -> dict:
        try:
            return getattr(self._client, operation)(**params)
        except self._client_error as exc:
            raise self._error(exc, queue, operation) from exc

    def _lookup(self, queue: str) -> str | None:
        """The queue's URL (cached), or None if SQS has no such queue."""
        with self._lock:
            url = self._urls.get(queue)
        if url is not None:
            return url
        try:
            url = self._client.get_queue_url(QueueName=self.name_prefix + queue)["QueueUrl"]
        except self._client_error as exc:
            error = self._error(exc, queue, "get_queue_url")
            if isinstance(error, QueueNotFound):
                return None
            raise error from exc
        with self._lock:
            self._urls[queue] = url
        return url

    def _url(self, queue: str) -> str:
        url = self._lookup(queue)
        if url is None:
            raise QueueNotFound(queue)
        return url

    def url_of(self, queue: str) -> str:
        """The queue's URL (what a state machine's ``sqs:sendMessage`` task names)."""
        return self._url(queue)

    # -- the port ----------------------------------------------------------------------------------

    def declare(self, spec: QueueSpec) -> None:
        check_spec(spec)
        attributes = {"VisibilityTimeout": str(spec.visibility_timeout)}
        if spec.dead_letter_queue is not None:
            dlq_url = self._url(spec.dead_letter_queue)
            arn = self._call(
                "get_queue_attributes", spec.dead_letter_queue, QueueUrl=dlq_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arn, "maxReceiveCount": str(spec.max_receive_count)}
            )
        url = self._lookup(spec.name)
        if url is None:
            try:
                url = self._client.create_queue(
                    QueueName=self.name_prefix + spec.name, Attributes=attributes
                )["QueueUrl"]
                with self._lock:
                    self._urls[spec.name] = url
                return
            except self._client_error as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
                if code not in _ALREADY_EXISTS:  # else: created meanwhile with other settings
                    raise self._error(exc, spec.name, "create_queue") from exc
                url = self._url(spec.name)
        if spec.dead_letter_queue is None:
            attributes["RedrivePolicy"] = ""  # an empty policy removes dead-lettering
        self._call("set_queue_attributes", spec.name, QueueUrl=url, Attributes=attributes)

    def send(
        self,
        queue: str,
        body: str,
        *,
        delay_seconds: float = 0,
        attributes: dict[str, str] | None = None,
    ) -> str:
        check_delay(delay_seconds)
        check_message(body, attributes)
        params: dict[str, Any] = {"QueueUrl": self._url(queue), "MessageBody": body}
        if delay_seconds:
            params["DelaySeconds"] = _seconds(delay_seconds)
        if attributes:
            params["MessageAttributes"] = {
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            }
        return self._call("send_message", queue, **params)["MessageId"]

    def _chunks(self, bodies: list[str]) -> Iterator[list[str]]:
        """Runs of at most 10 bodies and 256 KiB in total (SendMessageBatch's limits)."""
        chunk: list[str] = []
        size = 0
        for body in bodies:
            body_size = _size(body, None)
            if chunk and (len(chunk) == _BATCH_SIZE or size + body_size > MAX_MESSAGE_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk.append(body)
            size += body_size
        if chunk:
            yield chunk

    def send_batch(self, queue: str, bodies: list[str], *, delay_seconds: float = 0) -> list[str]:
        check_delay(delay_seconds)
        for body in bodies:
            check_message(body, None)
        url = self._url(queue)
        ids: list[str] = []
        for chunk in self._chunks(list(bodies)):
            entries = []
            for index, body in enumerate(chunk):
                entry: dict[str, Any] = {"Id": str(index), "MessageBody": body}
                if delay_seconds:
                    entry["DelaySeconds"] = _seconds(delay_seconds)
                entries.append(entry)
            result = self._call("send_message_batch", queue, QueueUrl=url, Entries=entries)
            if result.get("Failed"):
                failed = ", ".join(
                    f"#{len(ids) + int(f['Id'])}: {f.get('Code')}: {f.get('Message', '')}"
                    for f in result["Failed"]
                )
                raise SqsError(
                    f"SQS send_message_batch on queue {queue!r} failed for {failed}"
                    f" ({len(ids)} earlier messages were sent)",
                    result["Failed"][0].get("Code", ""),
                )
            by_entry = {r["Id"]: r["MessageId"] for r in result.get("Successful", [])}
            ids.extend(by_entry[str(index)] for index in range(len(chunk)))
        return ids

    def _receive_once(
        self, queue: str, url: str, max_messages: int, visibility_timeout: int | None, wait: int
    ) -> list[Message]:
        params: dict[str, Any] = {
            "QueueUrl": url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": wait,
            "MessageSystemAttributeNames": _SYSTEM_ATTRIBUTES,
            "MessageAttributeNames": ["All"],
        }
        if visibility_timeout is not None:
            params["VisibilityTimeout"] = _seconds(visibility_timeout)
        result = self._call("receive_message", queue, **params)
        return [
            Message(
                id=m["MessageId"],
                body=m["Body"],
                receipt_handle=m["ReceiptHandle"],
                receive_count=int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                sent_at=int(m.get("Attributes", {}).get("SentTimestamp", 0)) / 1000,
                attributes={
                    name: value.get("StringValue", "")
                    for name, value in m.get("MessageAttributes", {}).items()
                },
            )
            for m in result.get("Messages", [])
        ]

    def receive(
        self,
        queue: str,
        *,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        wait_seconds: float = 0,
    ) -> list[Message]:
        check_receive(max_messages, visibility_timeout, wait_seconds)
        url = self._url(queue)
        deadline = time.monotonic() + wait_seconds
        while True:
            remaining = deadline - time.monotonic()
            # Long-poll the whole seconds; short-poll the remainder below one second.
            wait = int(remaining) if remaining >= 1 else 0
            messages = self._receive_once(queue, url, max_messages, visibility_timeout, wait)
            remaining = deadline - time.monotonic()
            if messages or remaining <= 0:
                return messages
            if remaining < 1:
                time.sleep(min(remaining, _SHORT_POLL_INTERVAL))

    def delete(self, queue: str, receipt_handle: str) -> None:
        url = self._url(queue)
        try:
            self._client.delete_message(QueueUrl=url, ReceiptHandle=receipt_handle)
        except self._client_error as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in _BAD_RECEIPT:
                return  # stale or already deleted: ignored, as the port asks
            raise self._error(exc, queue, "delete_message") from exc

    def change_visibility(self, queue: str, receipt_handle: str, timeout: float) -> None:
        check_visibility(timeout)
        url = self._url(queue)
        try:
            self._client.change_message_visibility(
                QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=_seconds(timeout)
            )
        except self._client_error as exc:
            error = exc.response.get("Error", {})
            code, text = error.get("Code", ""), error.get("Message", "")
            # SQS answers InvalidParameterValue "Message does not exist or is not available for
            # visibility timeout change" for a deleted message's handle.
            if code in _BAD_RECEIPT or (code == "InvalidParameterValue" and "does not exist" in text):
                raise InvalidReceiptHandle(
                    f"receipt handle {receipt_handle!r} is not the latest of a message in {queue!r}: {code}"
                ) from exc
            raise self._error(exc, queue, "change_message_visibility") from exc

    def depth(self, queue: str) -> dict:
        counts = self._call(
            "get_queue_attributes", queue, QueueUrl=self._url(queue), AttributeNames=_DEPTH_ATTRIBUTES
        )["Attributes"]
        return {
            "visible": int(counts.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(counts.get("ApproximateNumberOfMessagesNotVisible", 0)),
            "delayed": int(counts.get("ApproximateNumberOfMessagesDelayed", 0)),
        }

    def purge(self, queue: str) -> None:
        self._call("purge_queue", queue, QueueUrl=self._url(queue))
