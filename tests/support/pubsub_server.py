"""A small in-process Pub/Sub server (gRPC) for tests: no Pub/Sub emulator can be installed here.

    with PubSubServer() as server:             # sets PUBSUB_EMULATOR_HOST while it runs
        queue = PubSubQueue(project=server.project)

It implements only what :mod:`pilothouse.messaging.pubsub` calls, on the real wire protocol (the
``google.pubsub.v1`` messages of the google-cloud-pubsub package, served with grpcio):

- Publisher: CreateTopic, GetTopic, Publish.
- Subscriber: CreateSubscription, GetSubscription, UpdateSubscription (ack deadline, labels,
  dead-letter policy), Pull (``return_immediately``, or waiting until the call's deadline),
  Acknowledge, ModifyAckDeadline, Seek (to a time).

Semantics it models as Pub/Sub documents them (without exactly-once delivery): a pulled message
is outstanding until its ack deadline (the subscription's, or one ModifyAckDeadline set; 0 makes it
available at once); every delivery gets a new ack id; Acknowledge and ModifyAckDeadline with an ack
id that is no longer the message's latest are ignored (no error); ``delivery_attempt`` is set only
on subscriptions with a dead-letter policy, and once a message has been delivered
``max_delivery_attempts`` times its next delivery is instead a publish to the dead-letter topic
(new message id, attributes kept). Ack deadlines must be 10..600 s on a subscription, 0..600 s per
message; max_delivery_attempts 5..100. Unknown topics and subscriptions are NOT_FOUND. Time is the
real clock (the adapter's tests really wait). It is test code: no ordering keys, filters, push,
retention or snapshots.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
import uuid
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import empty_pb2, timestamp_pb2
from google.pubsub_v1.types import pubsub as ps

PROJECT = "pilothouse-test"


@dataclass
class _Message:
    id: str
    data: bytes
    attributes: dict[str, str]
    published: float
    deliveries: int = 0
    ack_id: str | None = None
    visible_at: float = 0.0


@dataclass
class _Subscription:
    name: str
    topic: str
    ack_deadline: int
    labels: dict[str, str]
    dead_letter_topic: str | None = None
    max_delivery_attempts: int = 0
    messages: list[_Message] = field(default_factory=list)


class _State:
    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.topics: set[str] = set()
        self.subscriptions: dict[str, _Subscription] = {}
        self.ids = itertools.count(1)

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        """Fan a message out to the topic's subscriptions (the caller holds the lock)."""
        message_id = str(next(self.ids))
        now = time.time()
        for sub in self.subscriptions.values():
            if sub.topic == topic:
                sub.messages.append(_Message(message_id, data, dict(attributes), now))
        self.lock.notify_all()
        return message_id


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> Any:
    context.abort(code, message)


def _dead_letter(sub: _Subscription) -> ps.DeadLetterPolicy | None:
    if sub.dead_letter_topic is None:
        return None
    return ps.DeadLetterPolicy(
        dead_letter_topic=sub.dead_letter_topic, max_delivery_attempts=sub.max_delivery_attempts
    )


def _describe(sub: _Subscription) -> ps.Subscription:
    return ps.Subscription(
        name=sub.name,
        topic=sub.topic,
        ack_deadline_seconds=sub.ack_deadline,
        labels=sub.labels,
        dead_letter_policy=_dead_letter(sub),
    )


class _Servicer:
    def __init__(self, state: _State) -> None:
        self.s = state

    # -- Publisher ---------------------------------------------------------------------------------

    def create_topic(self, request: ps.Topic, context: grpc.ServicerContext) -> ps.Topic:
        with self.s.lock:
            if request.name in self.s.topics:
                _abort(context, grpc.StatusCode.ALREADY_EXISTS, "Topic already exists")
            self.s.topics.add(request.name)
        return ps.Topic(name=request.name)

    def get_topic(self, request: ps.GetTopicRequest, context: grpc.ServicerContext) -> ps.Topic:
        with self.s.lock:
            if request.topic not in self.s.topics:
                _abort(context, grpc.StatusCode.NOT_FOUND, "Resource not found (resource=topic)")
        return ps.Topic(name=request.topic)

    def publish(self, request: ps.PublishRequest, context: grpc.ServicerContext) -> ps.PublishResponse:
        with self.s.lock:
            if request.topic not in self.s.topics:
                _abort(context, grpc.StatusCode.NOT_FOUND, "Resource not found (resource=topic)")
            ids = [self.s.publish(request.topic, m.data, dict(m.attributes)) for m in request.messages]
        return ps.PublishResponse(message_ids=ids)

    # -- Subscriber --------------------------------------------------------------------------------

    def _check(self, sub: ps.Subscription, context: grpc.ServicerContext) -> None:
        if sub.ack_deadline_seconds and not 10 <= sub.ack_deadline_seconds <= 600:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "ack deadline must be 10..600 s")
        policy = sub.dead_letter_policy
        if policy and policy.dead_letter_topic and not 5 <= policy.max_delivery_attempts <= 100:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "max_delivery_attempts must be 5..100")

    def create_subscription(self, request: ps.Subscription, context: grpc.ServicerContext) -> ps.Subscription:
        self._check(request, context)
        with self.s.lock:
            if request.name in self.s.subscriptions:
                _abort(context, grpc.StatusCode.ALREADY_EXISTS, "Subscription already exists")
            if request.topic not in self.s.topics:
                _abort(context, grpc.StatusCode.NOT_FOUND, "Resource not found (resource=topic)")
            policy = request.dead_letter_policy
            sub = _Subscription(
                request.name,
                request.topic,
                request.ack_deadline_seconds or 10,
                dict(request.labels),
                policy.dead_letter_topic or None if policy else None,
                policy.max_delivery_attempts or 5 if policy and policy.dead_letter_topic else 0,
            )
            self.s.subscriptions[request.name] = sub
            return _describe(sub)

    def _sub(self, name: str, context: grpc.ServicerContext) -> _Subscription:
        sub = self.s.subscriptions.get(name)
        if sub is None:
            _abort(context, grpc.StatusCode.NOT_FOUND, "Resource not found (resource=subscription)")
        return sub  # type: ignore[return-value]

    def get_subscription(
        self, request: ps.GetSubscriptionRequest, context: grpc.ServicerContext
    ) -> ps.Subscription:
        with self.s.lock:
            return _describe(self._sub(request.subscription, context))

    def update_subscription(
        self, request: ps.UpdateSubscriptionRequest, context: grpc.ServicerContext
    ) -> ps.Subscription:
        self._check(request.subscription, context)
        with self.s.lock:
            sub = self._sub(request.subscription.name, context)
            for path in request.update_mask.paths:
                if path == "ack_deadline_seconds":
                    sub.ack_deadline = request.subscription.ack_deadline_seconds or 10
                elif path == "labels":
                    sub.labels = dict(request.subscription.labels)
                elif path == "dead_letter_policy":
                    policy = request.subscription.dead_letter_policy
                    sub.dead_letter_topic = policy.dead_letter_topic or None if policy else None
                    sub.max_delivery_attempts = (
                        policy.max_delivery_attempts or 5 if sub.dead_letter_topic else 0
                    )
                else:
                    _abort(context, grpc.StatusCode.INVALID_ARGUMENT, f"cannot update {path}")
            return _describe(sub)

    def pull(self, request: ps.PullRequest, context: grpc.ServicerContext) -> ps.PullResponse:
        with self.s.lock:
            while True:
                sub = self._sub(request.subscription, context)
                received = self._deliver(sub, max(1, request.max_messages))
                remaining = context.time_remaining()
                if received or request.return_immediately or remaining is None or remaining <= 0.05:
                    return ps.PullResponse(received_messages=received)
                due = [m.visible_at for m in sub.messages if m.visible_at > time.time()]
                wait = min([remaining - 0.05] + [d - time.time() for d in due])
                self.s.lock.wait(max(0.001, wait))

    def _deliver(self, sub: _Subscription, limit: int) -> list[ps.ReceivedMessage]:
        now = time.time()
        out: list[ps.ReceivedMessage] = []
        for message in list(sub.messages):
            if len(out) == limit:
                break
            if message.visible_at > now:
                continue
            if sub.dead_letter_topic and message.deliveries >= sub.max_delivery_attempts:
                sub.messages.remove(message)
                if sub.dead_letter_topic in self.s.topics:
                    self.s.publish(sub.dead_letter_topic, message.data, message.attributes)
                continue
            message.deliveries += 1
            message.ack_id = f"{sub.name}/{message.id}/{message.deliveries}/{uuid.uuid4().hex[:8]}"
            message.visible_at = now + sub.ack_deadline
            published = timestamp_pb2.Timestamp()
            published.FromNanoseconds(int(message.published * 1e9))
            out.append(
                ps.ReceivedMessage(
                    ack_id=message.ack_id,
                    message=ps.PubsubMessage(
                        data=message.data,
                        attributes=message.attributes,
                        message_id=message.id,
                        publish_time=published,
                    ),
                    delivery_attempt=message.deliveries if sub.dead_letter_topic else 0,
                )
            )
        return out

    def _by_ack_id(self, sub: _Subscription, ack_ids: list[str]) -> list[_Message]:
        wanted = set(ack_ids)
        return [m for m in sub.messages if m.ack_id in wanted]

    def acknowledge(self, request: ps.AcknowledgeRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        with self.s.lock:
            sub = self._sub(request.subscription, context)
            for message in self._by_ack_id(sub, list(request.ack_ids)):
                sub.messages.remove(message)
        return empty_pb2.Empty()

    def modify_ack_deadline(
        self, request: ps.ModifyAckDeadlineRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        if not 0 <= request.ack_deadline_seconds <= 600:
            _abort(context, grpc.StatusCode.INVALID_ARGUMENT, "ack deadline must be 0..600 s")
        with self.s.lock:
            sub = self._sub(request.subscription, context)
            for message in self._by_ack_id(sub, list(request.ack_ids)):
                message.visible_at = time.time() + request.ack_deadline_seconds
            self.s.lock.notify_all()
        return empty_pb2.Empty()

    def seek(self, request: ps.SeekRequest, context: grpc.ServicerContext) -> ps.SeekResponse:
        if "time" not in request:
            _abort(context, grpc.StatusCode.UNIMPLEMENTED, "only seek to a time")
        until = request.time.timestamp()
        with self.s.lock:
            sub = self._sub(request.subscription, context)
            sub.messages = [m for m in sub.messages if m.published >= until]
        return ps.SeekResponse()


def _handler(service: str, methods: dict[str, tuple[Any, Any, Any]]) -> grpc.GenericRpcHandler:
    def serializer(kind: Any) -> Any:
        return (lambda m: m.SerializeToString()) if kind is empty_pb2.Empty else kind.serialize

    return grpc.method_handlers_generic_handler(
        service,
        {
            name: grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=request.deserialize, response_serializer=serializer(response)
            )
            for name, (fn, request, response) in methods.items()
        },
    )


class PubSubServer:
    """The server on 127.0.0.1 (a free port the OS picks), started and stopped by the test."""

    def __init__(self, *, set_environ: bool = True) -> None:
        self.set_environ = set_environ
        self.project = PROJECT
        self.port = 0
        self._server: grpc.Server | None = None
        self._previous: str | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> PubSubServer:
        s = _Servicer(_State())
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        server.add_generic_rpc_handlers(
            (
                _handler(
                    "google.pubsub.v1.Publisher",
                    {
                        "CreateTopic": (s.create_topic, ps.Topic, ps.Topic),
                        "GetTopic": (s.get_topic, ps.GetTopicRequest, ps.Topic),
                        "Publish": (s.publish, ps.PublishRequest, ps.PublishResponse),
                    },
                ),
                _handler(
                    "google.pubsub.v1.Subscriber",
                    {
                        "CreateSubscription": (s.create_subscription, ps.Subscription, ps.Subscription),
                        "GetSubscription": (s.get_subscription, ps.GetSubscriptionRequest, ps.Subscription),
                        "UpdateSubscription": (
                            s.update_subscription,
                            ps.UpdateSubscriptionRequest,
                            ps.Subscription,
                        ),
                        "Pull": (s.pull, ps.PullRequest, ps.PullResponse),
                        "Acknowledge": (s.acknowledge, ps.AcknowledgeRequest, empty_pb2.Empty),
                        "ModifyAckDeadline": (
                            s.modify_ack_deadline,
                            ps.ModifyAckDeadlineRequest,
                            empty_pb2.Empty,
                        ),
                        "Seek": (s.seek, ps.SeekRequest, ps.SeekResponse),
                    },
                ),
            )
        )
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        if self.set_environ:
            self._previous = os.environ.get("PUBSUB_EMULATOR_HOST")
            os.environ["PUBSUB_EMULATOR_HOST"] = self.host
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop(grace=None)
        if self.set_environ and self.port:
            if self._previous is None:
                os.environ.pop("PUBSUB_EMULATOR_HOST", None)
            else:
                os.environ["PUBSUB_EMULATOR_HOST"] = self._previous

    def __enter__(self) -> PubSubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
