"""The queue port on Google Cloud Pub/Sub (semantics: see :mod:`.base`), plus the decoder of push
deliveries that the GCP trigger adapter calls.

    queue = PubSubQueue(project="my-project", name_prefix="prod-")
    queue.declare(QueueSpec("jobs-dlq"))
    queue.declare(
        QueueSpec("jobs", visibility_timeout=600, max_receive_count=5, dead_letter_queue="jobs-dlq")
    )

A port queue ``name`` is a topic and a subscription, both ``name_prefix + name``. Deployed, the
worker functions get messages by *push* (CloudEvents ``google.cloud.pubsub.topic.v1.messagePublished``
through Eventarc, or a push subscription's JSON envelope): :func:`decode_push` turns one into the
:class:`Message` the worker consumes. ``pilothouse dev`` and the tests *pull* (the port's receive).

How the port maps onto Pub/Sub:

* **Identity.** ``send`` gives each message an id of its own (attribute ``ph-id``) and its send time
  (``ph-sent-at``): Pub/Sub gives a dead-lettered message a new message id and publish time, the
  port keeps both. Attributes whose names start with ``ph-`` or ``CloudPubSubDeadLetter`` are
  Pilothouse's or Pub/Sub's and never reach the caller.
* **Visibility** is the ack deadline. A subscription's ack deadline is 10..600 s, so the queue's
  visibility timeout is kept in the subscription's labels (``ph-visibility``) and set on every
  pulled message with ModifyAckDeadline (0..600 s) when it differs. Timeouts over 600 s are
  capped at 600 s (Pub/Sub's longest ack deadline; a handler that needs longer extends it).
  ``change_visibility`` is ModifyAckDeadline; ``delete`` is Acknowledge.
* **Receive counts** are Pub/Sub's ``delivery_attempt``, which Pub/Sub reports only on subscriptions
  with a dead-letter policy (every queue the wiring declares has one); elsewhere it is 1.
* **Dead letters.** ``dead_letter_queue`` becomes the subscription's dead-letter policy. Pub/Sub
  takes ``max_delivery_attempts`` of 5..100 only: a ``max_receive_count`` below 5 is enforced by the
  adapter's pulls (push subscriptions get Pub/Sub's 5): a message pulled for the
  ``max_receive_count + 1``-th time is published to the dead-letter topic, attributes kept, and
  acknowledged; one over 100 is capped at 100. Pub/Sub's
  service agent needs publisher on the dead-letter topic and subscriber on the subscription.
* **Delays.** Pub/Sub has no delayed delivery. A delayed message carries ``ph-deliver-at`` (epoch
  seconds); a pull that finds it early hides it again with ModifyAckDeadline until it is due and
  does not return it. That early delivery counts as a delivery attempt on Pub/Sub (at most two
  for the port's 900 s: 600 s is the longest hiding), so it uses up one of ``max_receive_count``.
  A push delivery that is early is refused by the trigger (:attr:`PushMessage.due_in`), and
  Pub/Sub's retry back-off brings it back.
* **Purge** is Seek to now (every message published before counts as acknowledged).
* **Depth**: Pub/Sub's API has no message counts (Cloud Monitoring's
  ``subscription/num_undelivered_messages`` is about a minute late and has no in-flight or delayed
  split); :meth:`depth` raises :class:`PubSubError` naming that metric.
* **Stale receipt handles.** Without exactly-once delivery, Pub/Sub ignores Acknowledge and
  ModifyAckDeadline with an ack id that is no longer the message's latest; so ``delete`` ignores
  them as the port asks, and ``change_visibility`` with such a handle does nothing (the port would
  raise :class:`InvalidReceiptHandle`: the contract suite lists the deviation).
* Long polls are a Pull with a deadline of ``wait_seconds``.

google-cloud-pubsub is imported when a :class:`PubSubQueue` is created (the decoder needs no SDK).
Project and endpoint follow the SDK (``GOOGLE_CLOUD_PROJECT``, ``PUBSUB_EMULATOR_HOST``).
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import math
import os
import threading
import time
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pilothouse.messaging.base import (
    InvalidParameter,
    Message,
    MessagingError,
    QueueNotFound,
    QueueSpec,
    check_delay,
    check_message,
    check_receive,
    check_spec,
    check_visibility,
)

MAX_ACK_DEADLINE = 600
MIN_SUBSCRIPTION_DEADLINE = 10
MIN_DELIVERY_ATTEMPTS, MAX_DELIVERY_ATTEMPTS = 5, 100
ID, SENT_AT, DELIVER_AT = "ph-id", "ph-sent-at", "ph-deliver-at"
_INTERNAL_PREFIXES = ("ph-", "CloudPubSubDeadLetter", "googclient_")
_VISIBILITY_LABEL, _MAX_RECEIVES_LABEL = "ph-visibility", "ph-max-receives"


class PubSubError(MessagingError):
    """A Pub/Sub request failed for a reason the port has no error for, or the port asks what
    Pub/Sub cannot tell (``depth``)."""


@dataclass(frozen=True)
class _Settings:
    """What the adapter needs to know of a queue, read from its subscription once per process."""

    visibility: int
    ack_deadline: int
    max_receives: int | None
    dead_letter_topic: str | None


def _user_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in attributes.items() if not k.startswith(_INTERNAL_PREFIXES)}


def _message(
    message_id: str, data: bytes, attributes: Mapping[str, str], published: float, receipt: str, attempt: int
) -> Message:
    return Message(
        id=attributes.get(ID) or message_id,
        body=data.decode("utf-8"),
        receipt_handle=receipt,
        receive_count=max(1, attempt),
        sent_at=float(attributes.get(SENT_AT) or published),
        attributes=_user_attributes(attributes),
    )


class PubSubQueue:
    """Named queues on Pub/Sub topics and pull subscriptions (see the module documentation).

    ``publisher``/``subscriber`` (the SDK's clients) win over ``project``'s defaults."""

    def __init__(
        self,
        project: str | None = None,
        *,
        publisher: Any = None,
        subscriber: Any = None,
        name_prefix: str = "",
    ) -> None:
        from google.api_core import exceptions as gexc
        from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

        self._gexc = gexc
        self._publisher = publisher or PublisherClient()
        self._subscriber = subscriber or SubscriberClient()
        if project is None:  # as the other Google clients: the environment's project first
            project = os.environ.get("GOOGLE_CLOUD_PROJECT") or os.environ.get("GCLOUD_PROJECT")
        if project is None:
            import google.auth

            _, project = google.auth.default()
        if not project:
            raise PubSubError("no Google Cloud project: set GOOGLE_CLOUD_PROJECT")
        self.project = project
        self.name_prefix = name_prefix
        self._settings: dict[str, _Settings] = {}
        self._lock = threading.Lock()

    # -- names, errors, settings -------------------------------------------------------------------

    def _topic(self, queue: str) -> str:
        return f"projects/{self.project}/topics/{self.name_prefix}{queue}"

    def _subscription(self, queue: str) -> str:
        return f"projects/{self.project}/subscriptions/{self.name_prefix}{queue}"

    def url_of(self, queue: str) -> str | None:
        """Pub/Sub queues have no SQS URL (a state machine's ``sqs:sendMessage`` cannot name one)."""
        return None

    def _error(self, exc: Exception, queue: str, operation: str) -> MessagingError:
        if isinstance(exc, self._gexc.NotFound):
            with self._lock:
                self._settings.pop(queue, None)
            return QueueNotFound(queue)
        message = getattr(exc, "message", None) or str(exc)
        return PubSubError(f"Pub/Sub {operation} on queue {queue!r} failed: {type(exc).__name__}: {message}")

    def _call(self, fn: Any, queue: str, operation: str, **request: Any) -> Any:
        try:
            return fn(**request)
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, queue, operation) from exc

    def _queue_settings(self, queue: str) -> _Settings:
        with self._lock:
            known = self._settings.get(queue)
        if known is not None:
            return known
        sub = self._call(
            self._subscriber.get_subscription,
            queue,
            "get_subscription",
            request={"subscription": self._subscription(queue)},
        )
        labels = dict(sub.labels)
        policy = sub.dead_letter_policy
        dead_letter = policy.dead_letter_topic if policy and policy.dead_letter_topic else None
        max_receives = labels.get(_MAX_RECEIVES_LABEL) or (
            policy.max_delivery_attempts if dead_letter else None
        )
        settings = _Settings(
            visibility=int(labels.get(_VISIBILITY_LABEL, sub.ack_deadline_seconds)),
            ack_deadline=sub.ack_deadline_seconds,
            max_receives=int(max_receives) if max_receives else None,
            dead_letter_topic=dead_letter,
        )
        with self._lock:
            self._settings[queue] = settings
        return settings

    # -- the port ----------------------------------------------------------------------------------

    def declare(self, spec: QueueSpec) -> None:
        check_spec(spec)
        topic = self._topic(spec.name)
        dead_letter = None
        if spec.dead_letter_queue is not None:
            dead_letter = self._topic(spec.dead_letter_queue)
            self._call(
                self._publisher.get_topic, spec.dead_letter_queue, "get_topic", request={"topic": dead_letter}
            )
        try:
            self._publisher.create_topic(request={"name": topic})
        except self._gexc.AlreadyExists:
            pass
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, spec.name, "create_topic") from exc
        visibility = min(spec.visibility_timeout, MAX_ACK_DEADLINE)
        labels = {_VISIBILITY_LABEL: str(visibility)}
        subscription: dict[str, Any] = {
            "name": self._subscription(spec.name),
            "topic": topic,
            "ack_deadline_seconds": max(MIN_SUBSCRIPTION_DEADLINE, visibility),
            "labels": labels,
            "dead_letter_policy": None,
        }
        if dead_letter is not None and spec.max_receive_count is not None:
            labels[_MAX_RECEIVES_LABEL] = str(spec.max_receive_count)
            attempts = min(max(spec.max_receive_count, MIN_DELIVERY_ATTEMPTS), MAX_DELIVERY_ATTEMPTS)
            subscription["dead_letter_policy"] = {
                "dead_letter_topic": dead_letter,
                "max_delivery_attempts": attempts,
            }
        try:
            self._subscriber.create_subscription(request=subscription)
        except self._gexc.AlreadyExists:
            paths = ["ack_deadline_seconds", "labels", "dead_letter_policy"]
            self._call(
                self._subscriber.update_subscription,
                spec.name,
                "update_subscription",
                request={"subscription": subscription, "update_mask": {"paths": paths}},
            )
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, spec.name, "create_subscription") from exc
        with self._lock:
            self._settings.pop(spec.name, None)

    def _pubsub_message(self, body: str, attributes: dict[str, str] | None, deliver_at: float | None) -> dict:
        attrs = {**(attributes or {}), ID: uuid.uuid4().hex, SENT_AT: repr(time.time())}
        if deliver_at is not None:
            attrs[DELIVER_AT] = repr(deliver_at)
        return {"data": body.encode("utf-8"), "attributes": attrs}

    def _publish(self, queue: str, messages: list[dict], *, topic: str | None = None) -> list[str]:
        """Publish through the SDK's batching publisher and wait until Pub/Sub has every message."""
        target = topic or self._topic(queue)
        pending = [self._publisher.publish(target, m["data"], **m["attributes"]) for m in messages]
        try:
            for future in pending:
                future.result(timeout=60)
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, queue, "publish") from exc
        return [m["attributes"].get(ID, "") for m in messages]

    def send(
        self, queue: str, body: str, *, delay_seconds: float = 0, attributes: dict[str, str] | None = None
    ) -> str:
        check_delay(delay_seconds)
        check_message(body, attributes)
        for name in attributes or {}:
            if name.startswith(_INTERNAL_PREFIXES) or name.startswith("goog"):
                raise InvalidParameter(f"attribute name {name!r} is reserved")
        deliver_at = time.time() + delay_seconds if delay_seconds else None
        return self._publish(queue, [self._pubsub_message(body, attributes, deliver_at)])[0]

    def send_batch(self, queue: str, bodies: list[str], *, delay_seconds: float = 0) -> list[str]:
        check_delay(delay_seconds)
        for body in bodies:
            check_message(body, None)
        if not bodies:
            self._queue_settings(queue)  # an unknown queue is still an error
            return []
        deliver_at = time.time() + delay_seconds if delay_seconds else None
        return self._publish(queue, [self._pubsub_message(b, None, deliver_at) for b in bodies])

    def receive(
        self,
        queue: str,
        *,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        wait_seconds: float = 0,
    ) -> list[Message]:
        check_receive(max_messages, visibility_timeout, wait_seconds)
        settings = self._queue_settings(queue)
        visibility = min(
            visibility_timeout if visibility_timeout is not None else settings.visibility, MAX_ACK_DEADLINE
        )
        deadline = time.monotonic() + wait_seconds
        while True:
            out, pulled = self._pull_once(queue, settings, max_messages, visibility, deadline)
            # a pull that found only early or dead-lettered messages is tried again at once
            if out or (not pulled and time.monotonic() >= deadline):
                return out

    def _pull_once(
        self, queue: str, settings: _Settings, max_messages: int, visibility: int, deadline: float
    ) -> tuple[list[Message], int]:
        """The ready messages of one Pull, and how many it pulled in all."""
        remaining = deadline - time.monotonic()
        request = {"subscription": self._subscription(queue), "max_messages": max_messages}
        try:
            if remaining > 0.05:
                answer = self._subscriber.pull(
                    request={**request, "return_immediately": False}, timeout=remaining
                )
            else:
                with warnings.catch_warnings():
                    # deprecated, yet still the only Pull that answers at once when nothing is there
                    warnings.simplefilter("ignore", DeprecationWarning)
                    answer = self._subscriber.pull(
                        request={**request, "return_immediately": True}, timeout=10
                    )
        except self._gexc.DeadlineExceeded:
            return [], 0
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, queue, "pull") from exc
        now = time.time()
        ready: list[Any] = []
        hide: dict[int, list[str]] = {}
        dead: list[Any] = []
        for received in answer.received_messages:
            attributes = received.message.attributes
            due = float(attributes.get(DELIVER_AT) or 0)
            if due > now:
                hide.setdefault(min(MAX_ACK_DEADLINE, math.ceil(due - now)), []).append(received.ack_id)
            elif (
                settings.dead_letter_topic
                and settings.max_receives is not None
                and received.delivery_attempt > settings.max_receives
            ):
                dead.append(received)
            else:
                ready.append(received)
        for seconds, ack_ids in hide.items():
            self._modify(queue, ack_ids, seconds)
        if dead:
            self._dead_letter(queue, settings, dead)
        if ready and visibility != settings.ack_deadline:
            self._modify(queue, [r.ack_id for r in ready], visibility)
        messages = [
            _message(
                r.message.message_id,
                r.message.data,
                r.message.attributes,
                r.message.publish_time.timestamp(),
                r.ack_id,
                r.delivery_attempt,
            )
            for r in ready
        ]
        return messages, len(answer.received_messages)

    def _dead_letter(self, queue: str, settings: _Settings, dead: list[Any]) -> None:
        """Move messages past ``max_receive_count`` (below Pub/Sub's minimum of 5) to the DLQ topic."""
        assert settings.dead_letter_topic is not None
        moved = [{"data": r.message.data, "attributes": dict(r.message.attributes)} for r in dead]
        self._publish(queue, moved, topic=settings.dead_letter_topic)
        self._ack(queue, [r.ack_id for r in dead])

    def _modify(self, queue: str, ack_ids: list[str], seconds: float) -> None:
        self._call(
            self._subscriber.modify_ack_deadline,
            queue,
            "modify_ack_deadline",
            request={
                "subscription": self._subscription(queue),
                "ack_ids": ack_ids,
                "ack_deadline_seconds": min(MAX_ACK_DEADLINE, math.ceil(seconds)),
            },
        )

    def _ack(self, queue: str, ack_ids: list[str]) -> None:
        self._call(
            self._subscriber.acknowledge,
            queue,
            "acknowledge",
            request={"subscription": self._subscription(queue), "ack_ids": ack_ids},
        )

    def delete(self, queue: str, receipt_handle: str) -> None:
        try:
            self._ack(queue, [receipt_handle])
        except PubSubError:
            return  # an ack id Pub/Sub no longer takes: ignored, as the port asks

    def change_visibility(self, queue: str, receipt_handle: str, timeout: float) -> None:
        check_visibility(timeout)
        self._modify(queue, [receipt_handle], timeout)

    def depth(self, queue: str) -> dict:
        self._queue_settings(queue)
        raise PubSubError(
            f"Pub/Sub cannot count the messages of {queue!r}: read Cloud Monitoring's "
            "pubsub.googleapis.com/subscription/num_undelivered_messages"
        )

    def purge(self, queue: str) -> None:
        now = dt.datetime.now(tz=dt.UTC)
        self._call(
            self._subscriber.seek,
            queue,
            "seek",
            request={"subscription": self._subscription(queue), "time": now},
        )

    def close(self) -> None:
        """Close the subscriber's channel."""
        close = getattr(self._subscriber, "close", None)
        if close is not None:
            close()


# -- push deliveries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushMessage:
    """One pushed message: what the worker consumes, the subscription it came through, and how many
    seconds it is early (a delayed message: refuse it, and Pub/Sub's retry back-off redelivers)."""

    message: Message
    subscription: str
    due_in: float


def decode_push(payload: Mapping[str, Any], *, now: float | None = None) -> PushMessage:
    """The message of a push delivery: a push subscription's JSON envelope
    (``{"message": {...}, "subscription": ..., "deliveryAttempt": n}``), or a CloudEvent
    ``google.cloud.pubsub.topic.v1.messagePublished`` (as a dict with its ``data``, or the
    ``data`` itself). Raises :class:`InvalidParameter` for anything else.

    >>> import base64
    >>> body = base64.b64encode(b'{"job": 1}').decode()
    >>> push = decode_push({"message": {"data": body, "messageId": "7", "attributes": {"kind": "job"},
    ...     "publishTime": "2026-01-01T00:00:00Z"}, "subscription": "projects/p/subscriptions/jobs",
    ...     "deliveryAttempt": 2})
    >>> push.message.body, push.message.id, push.message.attributes, push.message.receive_count
    ('{"job": 1}', '7', {'kind': 'job'}, 2)
    """
    envelope: Any = payload
    if "message" not in envelope and isinstance(envelope.get("data"), Mapping):
        envelope = envelope["data"]  # a CloudEvent: its data is the push envelope
    message = envelope.get("message") if isinstance(envelope, Mapping) else None
    if not isinstance(message, Mapping):
        raise InvalidParameter("not a Pub/Sub push delivery: no message")
    try:
        data = base64.b64decode(message.get("data") or "", validate=True)
        attributes = {str(k): str(v) for k, v in (message.get("attributes") or {}).items()}
        message_id = str(message.get("messageId") or message.get("message_id") or "")
        published = _rfc3339(message.get("publishTime") or message.get("publish_time"))
        attempt = int(envelope.get("deliveryAttempt") or 0)
        decoded = _message(message_id, data, attributes, published, f"push:{message_id}", attempt)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidParameter(f"not a Pub/Sub push delivery: {exc}") from exc
    due = float(attributes.get(DELIVER_AT) or 0)
    current = time.time() if now is None else now
    return PushMessage(decoded, str(envelope.get("subscription") or ""), max(0.0, due - current))


def _rfc3339(value: Any) -> float:
    if not value:
        return 0.0
    text = str(value).replace("Z", "+00:00")
    if "." in text:  # Python parses at most microseconds; Pub/Sub writes up to nanoseconds
        head, _, tail = text.partition(".")
        digits = "".join(itertools.takewhile(str.isdigit, tail))
        text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    return dt.datetime.fromisoformat(text).timestamp()
