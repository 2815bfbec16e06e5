"""The queue port's contract, run against every adapter.

The suite talks to the port only. Each adapter comes from the ``queue_adapter`` fixture (one
parameter per adapter); ``advance(seconds)`` moves time for it: the injected ManualClock for the
local adapters, a real sleep for the cloud ones. Queue names are unique per test so that shared
cloud accounts do not see each other's messages.

Timeouts and delays are a few seconds (SQS counts them in whole seconds) so that the cloud
adapters, which really wait, finish quickly; every wait keeps at least half a second of margin
on each side of the deadline it tests. A cloud adapter may list contract tests its backing
service (e.g. moto standing in for SQS) is known to fail, each with the reason: those run as
strict xfails, so a fix upstream shows up as a failure to remove the entry.

Adapter-specific checks (persistence across a reopen, several processes sharing the SQLite file)
follow the contract suite, at the end of the file.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pilothouse.clock import ManualClock, SystemClock
from pilothouse.messaging.local import LocalQueue
from pilothouse.messaging.memory import MemoryQueue
from pilothouse.ports import (
    InvalidReceiptHandle,
    MessageTooLarge,
    MessagingError,
    Queue,
    QueueNotFound,
    QueueSpec,
)
from tests.support.processes import stop_at_session_end


@dataclass(frozen=True)
class Deviation:
    """A contract test the backing service is known to fail: always (strict) or sometimes (a race)."""

    reason: str
    strict: bool = True


@dataclass
class AdapterCase:
    queue: Queue
    advance: Callable[[float], None]
    reopen: Callable[[], Queue] | None = None  # a fresh adapter on the same storage, if durable
    #: contract tests (function names) the backing service is known to fail, with the reason
    deviations: dict[str, Deviation] = field(default_factory=dict)


def _memory(tmp_path: Path) -> Iterator[AdapterCase]:
    clock = ManualClock()
    yield AdapterCase(MemoryQueue(clock), clock.advance)


def _sqlite(tmp_path: Path) -> Iterator[AdapterCase]:
    clock = ManualClock()
    path = tmp_path / "queues.db"
    opened = [LocalQueue(path, clock)]

    def reopen() -> Queue:
        opened[0].close()
        opened.append(LocalQueue(path, clock))
        return opened[-1]

    yield AdapterCase(opened[0], clock.advance, reopen)
    for queue in opened:
        queue.close()


_moto: list = []  # one moto server for the session, started by the first SQS case


def _moto_server():
    if not _moto:
        from tests.support.moto_server import MotoServer

        _moto.append(MotoServer().start())
        stop_at_session_end(_moto[0].stop)
    return _moto[0]


# Where moto 5.x's SQS differs from SQS and the port (see moto/sqs/models.py).
_MOTO_SQS_DEVIATIONS = {
    "test_delete_with_a_stale_handle_is_ignored": Deviation(
        "moto deletes a message with any receipt handle it ever had; SQS documents that a stale handle"
        " 'succeeds, but the message might not be deleted'"
    ),
    "test_change_visibility_with_a_stale_handle_fails": Deviation(
        "moto accepts any receipt handle the message ever had for ChangeMessageVisibility"
    ),
    "test_message_moves_to_dead_letter_queue_after_max_receives": Deviation(
        "moto keeps ApproximateReceiveCount when it moves a message to the DLQ (the first DLQ"
        " receive reports max_receive_count + 1, not 1); the move itself is checked by"
        " test_sqs_moves_to_dead_letter_queue_keeping_id_body_attributes"
    ),
    "test_concurrent_receivers_never_share_a_message": Deviation(
        "moto's ReceiveMessage does not claim messages atomically across its server threads, so"
        " concurrent receivers sometimes get the same message (SQS standard queues are"
        " at-least-once too)",
        strict=False,
    ),
}


def _sqs(tmp_path: Path) -> Iterator[AdapterCase]:
    from pilothouse.messaging.sqs import SqsQueue

    moto = _moto_server()
    yield AdapterCase(
        SqsQueue(client=moto.client("sqs")),
        time.sleep,
        lambda: SqsQueue(client=moto.client("sqs")),
        deviations=_MOTO_SQS_DEVIATIONS,
    )


# Where the Azure Storage queue adapter (on Azurite) cannot meet the port, with the reason.
_AZURE_DEVIATIONS = {
    "test_messages_and_specs_survive_a_reopen": Deviation(
        "Azure counts invisible messages as one number: the adapter tells delayed from in-flight ones"
        " only for the delays it sent itself, so a reopened adapter counts the earlier delayed message"
        " as in flight (the messages and the dead-lettering survive: see"
        " test_azure_messages_and_settings_survive_a_new_adapter)"
    ),
}


def _azure(tmp_path: Path) -> Iterator[AdapterCase]:
    from pilothouse.messaging.azure_queue import AzureStorageQueue
    from tests.support.azurite import session_azurite

    connection = session_azurite().connection_string
    prefix = f"t{uuid.uuid4().hex[:8]}-"  # Azurite is shared by the session: queues of their own
    yield AdapterCase(
        AzureStorageQueue(connection_string=connection, name_prefix=prefix),
        time.sleep,
        lambda: AzureStorageQueue(connection_string=connection, name_prefix=prefix),
        deviations=_AZURE_DEVIATIONS,
    )


# Pub/Sub, on the test server of tests/support/pubsub_server.py
_pubsub_server: list = []  # the session's Pub/Sub test server (tests/support/pubsub_server.py)

_DEPTH = (
    "Pub/Sub's API has no message counts: PubSubQueue.depth raises (Cloud Monitoring's"
    " num_undelivered_messages is the source); test_pubsub_* check the rest of these tests"
)
# Where Pub/Sub itself differs from the port (the test server models Pub/Sub, see its docstring).
_PUBSUB_DEVIATIONS = {
    name: Deviation(_DEPTH)
    for name in (
        "test_send_batch_of_nothing_is_a_no_op",
        "test_deleted_message_never_comes_back",
        "test_delete_with_a_stale_handle_is_ignored",
        "test_message_moves_to_dead_letter_queue_after_max_receives",
        "test_batch_delay_applies_to_every_message",
        "test_depth_counts_visible_in_flight_and_delayed",
        "test_purge_empties_the_queue",
        "test_messages_and_specs_survive_a_reopen",
        "test_message_over_256_kib_is_rejected",
        "test_delayed_message_appears_after_its_delay",
    )
} | {
    "test_change_visibility_with_a_stale_handle_fails": Deviation(
        "without exactly-once delivery Pub/Sub ignores ModifyAckDeadline with an ack id that is no"
        " longer the message's latest"
    ),
    "test_change_visibility_with_a_deleted_message_handle_fails": Deviation(
        "Pub/Sub ignores ModifyAckDeadline with the ack id of an acknowledged message"
    ),
    "test_received_message_is_invisible_until_the_timeout": Deviation(
        "Pub/Sub reports delivery attempts only on subscriptions with a dead-letter policy (receive"
        " count stays 1 here); the hiding itself holds"
    ),
    "test_without_dead_letter_queue_messages_are_redelivered_forever": Deviation(
        "Pub/Sub reports delivery attempts only on subscriptions with a dead-letter policy"
    ),
}


def _pubsub(tmp_path: Path) -> Iterator[AdapterCase]:
    from pilothouse.messaging.pubsub import PubSubQueue

    if not _pubsub_server:
        from tests.support.pubsub_server import PubSubServer

        _pubsub_server.append(PubSubServer().start())
        stop_at_session_end(_pubsub_server[0].stop)
    project = _pubsub_server[0].project
    opened = [PubSubQueue(project)]

    def reopen() -> Queue:
        opened.append(PubSubQueue(project))
        return opened[-1]

    yield AdapterCase(opened[0], time.sleep, reopen, deviations=_PUBSUB_DEVIATIONS)
    for queue in opened:
        queue.close()


# every adapter the contract runs against
ADAPTERS: dict[str, Callable[[Path], Iterator[AdapterCase]]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "sqs": _sqs,
    "azure-queue": _azure,
    "pubsub": _pubsub,
}


@pytest.fixture(params=sorted(ADAPTERS))
def adapter_case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AdapterCase]:
    for case in ADAPTERS[request.param](tmp_path):
        deviation = case.deviations.get(getattr(request.node, "originalname", request.node.name))
        if deviation is not None:
            request.applymarker(
                pytest.mark.xfail(reason=f"{request.param}: {deviation.reason}", strict=deviation.strict)
            )
        yield case


@pytest.fixture
def queue_adapter(adapter_case: AdapterCase) -> Queue:
    return adapter_case.queue


@pytest.fixture
def advance(adapter_case: AdapterCase) -> Callable[[float], None]:
    return adapter_case.advance


@pytest.fixture
def qname() -> Callable[[str], str]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    return lambda name: f"{prefix}-{name}"


@pytest.fixture
def jobs(queue_adapter: Queue, qname: Callable[[str], str]) -> str:
    """A declared queue with a 2 s visibility timeout."""
    name = qname("jobs")
    queue_adapter.declare(QueueSpec(name, visibility_timeout=2))
    return name


# -- send and receive ------------------------------------------------------------------------------


def test_send_then_receive_returns_the_message(queue_adapter: Queue, jobs: str) -> None:
    """Given a queue, when a message with attributes is sent and received,
    then the receiver sees its id, body, attributes, a receipt handle and receive count 1."""
    message_id = queue_adapter.send(jobs, "hello", attributes={"kind": "greeting"})

    [message] = queue_adapter.receive(jobs)

    assert message.id == message_id
    assert message.body == "hello"
    assert message.attributes == {"kind": "greeting"}
    assert message.receive_count == 1
    assert message.receipt_handle
    assert message.sent_at > 0


def test_receive_on_empty_queue_returns_nothing(queue_adapter: Queue, jobs: str) -> None:
    """Given an empty queue, when receiving without waiting, then an empty list comes back."""
    assert queue_adapter.receive(jobs) == []


def test_receive_honours_max_messages_and_roughly_fifo(queue_adapter: Queue, jobs: str) -> None:
    """Given 5 messages sent in order, when receiving 3 then 10,
    then the first receive gets the 3 oldest and the second the remaining 2."""
    ids = [queue_adapter.send(jobs, f"m{i}") for i in range(5)]

    first = queue_adapter.receive(jobs, max_messages=3)
    second = queue_adapter.receive(jobs, max_messages=10)

    assert [m.id for m in first] == ids[:3]
    assert [m.id for m in second] == ids[3:]


def test_send_batch_returns_ids_in_order(queue_adapter: Queue, jobs: str) -> None:
    """Given a queue, when a batch of 12 bodies is sent,
    then 12 distinct ids come back and all 12 bodies can be received."""
    bodies = [f"b{i}" for i in range(12)]

    ids = queue_adapter.send_batch(jobs, bodies)
    received = queue_adapter.receive(jobs, max_messages=10) + queue_adapter.receive(jobs, max_messages=10)

    assert len(set(ids)) == 12
    assert sorted(m.body for m in received) == sorted(bodies)
    assert {m.id: m.body for m in received} == dict(zip(ids, bodies, strict=True))


def test_send_batch_of_nothing_is_a_no_op(queue_adapter: Queue, jobs: str) -> None:
    """Given a queue, when an empty batch is sent, then no ids come back and the queue stays empty."""
    assert queue_adapter.send_batch(jobs, []) == []
    assert queue_adapter.depth(jobs) == {"visible": 0, "in_flight": 0, "delayed": 0}


# -- visibility ------------------------------------------------------------------------------------


def test_received_message_is_invisible_until_the_timeout(
    queue_adapter: Queue, jobs: str, advance: Callable[[float], None]
) -> None:
    """Given a received message (2 s visibility), when 1 s passes, then nobody else receives it;
    when 1.5 more pass, then it is received again with receive count 2 and a new receipt handle."""
    queue_adapter.send(jobs, "work")
    [first] = queue_adapter.receive(jobs)

    advance(1)
    assert queue_adapter.receive(jobs) == []

    advance(1.5)
    [again] = queue_adapter.receive(jobs)
    assert again.id == first.id
    assert again.receive_count == 2
    assert again.receipt_handle != first.receipt_handle


def test_receive_visibility_timeout_overrides_the_queue_setting(
    queue_adapter: Queue, jobs: str, advance: Callable[[float], None]
) -> None:
    """Given a queue with a 2 s timeout, when a message is received with a 1 s timeout,
    then it is visible again after 1.5 s."""
    queue_adapter.send(jobs, "work")
    queue_adapter.receive(jobs, visibility_timeout=1)

    advance(1.5)

    assert [m.body for m in queue_adapter.receive(jobs)] == ["work"]


def test_declare_updates_visibility_timeout(
    queue_adapter: Queue, qname: Callable[[str], str], advance: Callable[[float], None]
) -> None:
    """Given a queue declared with 30 s then re-declared with 1 s,
    when a message is received, then it is visible again 1.5 s later."""
    name = qname("redeclared")
    queue_adapter.declare(QueueSpec(name, visibility_timeout=30))
    queue_adapter.declare(QueueSpec(name, visibility_timeout=1))
    queue_adapter.send(name, "work")
    queue_adapter.receive(name)

    advance(1.5)

    assert len(queue_adapter.receive(name)) == 1


def test_change_visibility_extends_and_releases(
    queue_adapter: Queue, jobs: str, advance: Callable[[float], None]
) -> None:
    """Given a received message, when its visibility is extended to 4 s, then it stays hidden past
    the queue's 2 s; when set to 0, then it is visible at once."""
    queue_adapter.send(jobs, "work")
    [message] = queue_adapter.receive(jobs)

    queue_adapter.change_visibility(jobs, message.receipt_handle, 4)
    advance(3)
    assert queue_adapter.receive(jobs) == []

    queue_adapter.change_visibility(jobs, message.receipt_handle, 0)
    assert [m.id for m in queue_adapter.receive(jobs)] == [message.id]


def test_change_visibility_with_a_deleted_message_handle_fails(queue_adapter: Queue, jobs: str) -> None:
    """Given a message received and deleted, when its visibility is changed with the old handle,
    then a MessagingError is raised."""
    queue_adapter.send(jobs, "work")
    [message] = queue_adapter.receive(jobs)
    queue_adapter.delete(jobs, message.receipt_handle)

    with pytest.raises(MessagingError):
        queue_adapter.change_visibility(jobs, message.receipt_handle, 10)


def test_change_visibility_with_a_stale_handle_fails(
    queue_adapter: Queue, jobs: str, advance: Callable[[float], None]
) -> None:
    """Given a message received twice, when the first receipt handle is used to change visibility,
    then InvalidReceiptHandle is raised."""
    queue_adapter.send(jobs, "work")
    [first] = queue_adapter.receive(jobs)
    advance(2.5)
    queue_adapter.receive(jobs)

    with pytest.raises(InvalidReceiptHandle):
        queue_adapter.change_visibility(jobs, first.receipt_handle, 10)


# -- delete ----------------------------------------------------------------------------------------


def test_deleted_message_never_comes_back(
    queue_adapter: Queue, jobs: str, advance: Callable[[float], None]
) -> None:
    """Given a received message, when it is deleted and the visibility timeout passes,
    then it is not received again."""
    queue_adapter.send(jobs, "work")
    [message] = queue_adapter.receive(jobs)

    queue_adapter.delete(jobs, message.receipt_handle)
    advance(2.5)

    assert queue_adapter.receive(jobs) == []
    assert queue_adapter.depth(jobs) == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_delete_with_a_stale_handle_is_ignored(
    queue_adapter: Queue, jobs: str, advance: Callable[[float], None]
) -> None:
    """Given a message received, timed out and received again, when the first (stale) handle is used
    to delete, then nothing happens; the current handle still deletes it."""
    queue_adapter.send(jobs, "work")
    [first] = queue_adapter.receive(jobs)
    advance(2.5)
    [second] = queue_adapter.receive(jobs)

    queue_adapter.delete(jobs, first.receipt_handle)
    assert queue_adapter.depth(jobs)["in_flight"] == 1

    queue_adapter.delete(jobs, second.receipt_handle)
    assert queue_adapter.depth(jobs)["in_flight"] == 0


def test_delete_twice_is_harmless(queue_adapter: Queue, jobs: str) -> None:
    """Given a deleted message, when it is deleted again with the same handle, then no error."""
    queue_adapter.send(jobs, "work")
    [message] = queue_adapter.receive(jobs)
    queue_adapter.delete(jobs, message.receipt_handle)

    queue_adapter.delete(jobs, message.receipt_handle)


def test_delete_after_visibility_expired_but_not_rereceived_works(
    queue_adapter: Queue, jobs: str, advance: Callable[[float], None]
) -> None:
    """Given a received message whose visibility timed out (nobody received it since),
    when it is deleted with its handle, then it is gone."""
    queue_adapter.send(jobs, "work")
    [message] = queue_adapter.receive(jobs)
    advance(2.5)

    queue_adapter.delete(jobs, message.receipt_handle)

    assert queue_adapter.receive(jobs) == []


# -- dead-letter queues ----------------------------------------------------------------------------


def test_message_moves_to_dead_letter_queue_after_max_receives(
    queue_adapter: Queue, qname: Callable[[str], str], advance: Callable[[float], None]
) -> None:
    """Given a queue with max_receive_count 3 and a DLQ, when a message is received 3 times without
    being deleted, then the 4th receive gets nothing and the message is in the DLQ with its body,
    attributes and id, receive count starting over."""
    dlq, main = qname("dlq"), qname("main")
    queue_adapter.declare(QueueSpec(dlq))
    queue_adapter.declare(QueueSpec(main, visibility_timeout=1, max_receive_count=3, dead_letter_queue=dlq))
    message_id = queue_adapter.send(main, "poison", attributes={"origin": "test"})

    counts = []
    for _ in range(3):
        [message] = queue_adapter.receive(main)
        counts.append(message.receive_count)
        advance(1.5)

    assert counts == [1, 2, 3]
    assert queue_adapter.receive(main) == []
    assert queue_adapter.depth(main) == {"visible": 0, "in_flight": 0, "delayed": 0}
    [dead] = queue_adapter.receive(dlq)
    assert (dead.id, dead.body, dead.attributes, dead.receive_count) == (
        message_id,
        "poison",
        {"origin": "test"},
        1,
    )


def test_dead_lettering_does_not_use_up_max_messages(
    queue_adapter: Queue, qname: Callable[[str], str], advance: Callable[[float], None]
) -> None:
    """Given a poison message ahead of a fresh one (max_receive_count 1), when receiving one message,
    then the poison goes to the DLQ and the fresh one is returned."""
    dlq, main = qname("dlq"), qname("main")
    queue_adapter.declare(QueueSpec(dlq))
    queue_adapter.declare(QueueSpec(main, visibility_timeout=1, max_receive_count=1, dead_letter_queue=dlq))
    queue_adapter.send(main, "poison")
    queue_adapter.receive(main)
    advance(1.5)
    queue_adapter.send(main, "fresh")

    assert [m.body for m in queue_adapter.receive(main, max_messages=1)] == ["fresh"]
    assert [m.body for m in queue_adapter.receive(dlq)] == ["poison"]


def test_without_dead_letter_queue_messages_are_redelivered_forever(
    queue_adapter: Queue, qname: Callable[[str], str], advance: Callable[[float], None]
) -> None:
    """Given a queue without a DLQ (1 s visibility), when a message times out 4 times, then it is
    still delivered, a 5th time."""
    name = qname("forever")
    queue_adapter.declare(QueueSpec(name, visibility_timeout=1))
    queue_adapter.send(name, "work")
    for expected in range(1, 6):
        if expected > 1:
            advance(1.5)
        [message] = queue_adapter.receive(name)
        assert message.receive_count == expected


def test_declaring_with_an_undeclared_dead_letter_queue_fails(
    queue_adapter: Queue, qname: Callable[[str], str]
) -> None:
    """Given no DLQ declared, when a queue naming it is declared, then QueueNotFound is raised."""
    with pytest.raises(QueueNotFound):
        queue_adapter.declare(QueueSpec(qname("main"), max_receive_count=2, dead_letter_queue=qname("none")))


# -- delays ----------------------------------------------------------------------------------------


def test_delayed_message_appears_after_its_delay(
    queue_adapter: Queue, jobs: str, advance: Callable[[float], None]
) -> None:
    """Given a message sent with a 2 s delay, when 1 s passes, then it is not received and counts as
    delayed; when 1.5 more pass, then it is received."""
    queue_adapter.send(jobs, "later", delay_seconds=2)
    queue_adapter.send(jobs, "now")

    [now] = queue_adapter.receive(jobs)
    assert now.body == "now"
    queue_adapter.delete(jobs, now.receipt_handle)
    advance(1)
    assert queue_adapter.receive(jobs) == []
    assert queue_adapter.depth(jobs)["delayed"] == 1

    advance(1.5)
    assert [m.body for m in queue_adapter.receive(jobs)] == ["later"]


def test_batch_delay_applies_to_every_message(
    queue_adapter: Queue, jobs: str, advance: Callable[[float], None]
) -> None:
    """Given a batch sent with a 1 s delay, when 1.5 s pass, then all are visible (none before)."""
    queue_adapter.send_batch(jobs, ["a", "b", "c"], delay_seconds=1)
    assert queue_adapter.depth(jobs) == {"visible": 0, "in_flight": 0, "delayed": 3}

    advance(1.5)

    assert queue_adapter.depth(jobs) == {"visible": 3, "in_flight": 0, "delayed": 0}


# -- depth and purge -------------------------------------------------------------------------------


def test_depth_counts_visible_in_flight_and_delayed(queue_adapter: Queue, jobs: str) -> None:
    """Given 3 ready messages, 2 delayed, and 1 received, when depth is asked,
    then it reports 2 visible, 1 in flight, 2 delayed."""
    queue_adapter.send_batch(jobs, ["a", "b", "c"])
    queue_adapter.send_batch(jobs, ["d", "e"], delay_seconds=30)
    queue_adapter.receive(jobs, max_messages=1)

    assert queue_adapter.depth(jobs) == {"visible": 2, "in_flight": 1, "delayed": 2}


def test_purge_empties_the_queue(queue_adapter: Queue, jobs: str) -> None:
    """Given visible, delayed and in-flight messages, when the queue is purged, then depth is all zero."""
    queue_adapter.send_batch(jobs, ["a", "b"])
    queue_adapter.send(jobs, "c", delay_seconds=5)
    queue_adapter.receive(jobs, max_messages=1)

    queue_adapter.purge(jobs)

    assert queue_adapter.depth(jobs) == {"visible": 0, "in_flight": 0, "delayed": 0}
    assert queue_adapter.receive(jobs) == []


def test_queues_are_independent(queue_adapter: Queue, qname: Callable[[str], str]) -> None:
    """Given two queues, when a message is sent to one, then the other stays empty."""
    a, b = qname("a"), qname("b")
    queue_adapter.declare(QueueSpec(a))
    queue_adapter.declare(QueueSpec(b))
    queue_adapter.send(a, "x")

    assert queue_adapter.receive(b) == []
    assert [m.body for m in queue_adapter.receive(a)] == ["x"]


# -- long polling ----------------------------------------------------------------------------------


def test_long_poll_returns_early_when_a_message_arrives(queue_adapter: Queue, jobs: str) -> None:
    """Given a receiver long-polling for up to 10 s, when a message is sent 0.2 s later from another
    thread, then the receiver gets it well before 10 s."""
    timer = threading.Timer(0.2, lambda: queue_adapter.send(jobs, "wake"))
    timer.start()
    started = time.monotonic()
    try:
        messages = queue_adapter.receive(jobs, wait_seconds=10)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started

    assert [m.body for m in messages] == ["wake"]
    assert elapsed < 3


def test_long_poll_times_out_empty(queue_adapter: Queue, jobs: str) -> None:
    """Given an empty queue, when long-polling for 0.3 s, then an empty list comes back after ~0.3 s."""
    started = time.monotonic()

    assert queue_adapter.receive(jobs, wait_seconds=0.3) == []
    assert 0.25 <= time.monotonic() - started < 3


# -- concurrency -----------------------------------------------------------------------------------


def test_concurrent_receivers_never_share_a_message(queue_adapter: Queue, jobs: str) -> None:
    """Given 200 messages and 4 threads receiving (for 10 minutes each) until empty, when they finish,
    then every message was received exactly once."""
    ids = set(queue_adapter.send_batch(jobs, [str(i) for i in range(200)]))
    got: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        while batch := queue_adapter.receive(jobs, max_messages=10, visibility_timeout=600):
            with lock:
                got.extend(m.id for m in batch)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(got) == sorted(ids)


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda q, n: q.send(n, "x"),
        lambda q, n: q.send_batch(n, ["x"]),
        lambda q, n: q.receive(n),
        lambda q, n: q.delete(n, "nope"),
        lambda q, n: q.change_visibility(n, "nope", 1),
        lambda q, n: q.depth(n),
        lambda q, n: q.purge(n),
    ],
    ids=["send", "send_batch", "receive", "delete", "change_visibility", "depth", "purge"],
)
def test_unknown_queue_raises_queue_not_found(
    queue_adapter: Queue, qname: Callable[[str], str], call: Callable[[Queue, str], object]
) -> None:
    """Given a queue name never declared, when any operation uses it, then QueueNotFound (a
    MessagingError) names the queue."""
    name = qname("ghost")
    with pytest.raises(QueueNotFound, match=name) as info:
        call(queue_adapter, name)
    assert isinstance(info.value, MessagingError)


def test_message_over_256_kib_is_rejected(queue_adapter: Queue, jobs: str) -> None:
    """Given a queue, when a body of 256 KiB + 1 byte is sent (alone or in a batch),
    then MessageTooLarge is raised and nothing is enqueued; exactly 256 KiB is accepted."""
    with pytest.raises(MessageTooLarge):
        queue_adapter.send(jobs, "x" * (256 * 1024 + 1))
    with pytest.raises(MessageTooLarge):
        queue_adapter.send_batch(jobs, ["ok", "x" * (256 * 1024 + 1)])
    assert queue_adapter.depth(jobs)["visible"] == 0

    queue_adapter.send(jobs, "x" * (256 * 1024))
    assert len(queue_adapter.receive(jobs)[0].body) == 256 * 1024


def test_attributes_count_toward_the_size_limit(queue_adapter: Queue, jobs: str) -> None:
    """Given a body just under the limit, when attributes push it over, then MessageTooLarge."""
    with pytest.raises(MessageTooLarge):
        queue_adapter.send(jobs, "x" * (256 * 1024 - 2), attributes={"ab": "cd"})


def test_out_of_range_arguments_are_rejected(queue_adapter: Queue, jobs: str) -> None:
    """Given a queue, when receive asks for 11 messages or send a 901 s delay,
    then a MessagingError is raised."""
    with pytest.raises(MessagingError):
        queue_adapter.receive(jobs, max_messages=11)
    with pytest.raises(MessagingError):
        queue_adapter.send(jobs, "x", delay_seconds=901)


# -- durability (adapters that have it) ------------------------------------------------------------


def test_messages_and_specs_survive_a_reopen(adapter_case: AdapterCase, qname: Callable[[str], str]) -> None:
    """Given a durable adapter holding a queue with a DLQ, a ready, a delayed and an in-flight
    message, when it is closed and reopened on the same storage, then all three are still there
    and the queue still dead-letters."""
    if adapter_case.reopen is None:
        pytest.skip("adapter is not durable")
    queue = adapter_case.queue
    dlq, main = qname("dlq"), qname("main")
    queue.declare(QueueSpec(dlq))
    queue.declare(QueueSpec(main, visibility_timeout=1, max_receive_count=1, dead_letter_queue=dlq))
    queue.send(main, "in-flight")
    [received] = queue.receive(main)
    queue.send(main, "ready", attributes={"a": "1"})
    queue.send(main, "delayed", delay_seconds=100)

    reopened = adapter_case.reopen()

    assert reopened.depth(main) == {"visible": 1, "in_flight": 1, "delayed": 1}
    [ready] = reopened.receive(main)
    assert (ready.body, ready.attributes) == ("ready", {"a": "1"})
    adapter_case.advance(1.5)
    assert reopened.receive(main) == []  # both were received once: now dead-lettered
    assert sorted(m.id for m in reopened.receive(dlq)) == sorted([received.id, ready.id])
    assert reopened.depth(main) == {"visible": 0, "in_flight": 0, "delayed": 1}


# -- several processes on one SQLite file ----------------------------------------------------------


def _claim_all(path: str, queue: str, start: multiprocessing.synchronize.Barrier, out) -> None:
    local = LocalQueue(Path(path), SystemClock())
    start.wait()
    claimed: list[str] = []
    while batch := local.receive(queue, max_messages=5, visibility_timeout=600):
        claimed.extend(m.id for m in batch)
        time.sleep(0.001)  # "process" the batch, as a worker would, letting the other one in
    local.close()
    out.put(claimed)


def test_two_processes_never_claim_the_same_message(tmp_path: Path) -> None:
    """Given 500 messages in a SQLite queue, when two processes claim messages concurrently until the
    queue is empty, then each message was claimed exactly once across both."""
    path = tmp_path / "shared.db"
    with LocalQueue(path) as queue:
        queue.declare(QueueSpec("work", visibility_timeout=600))
        ids = queue.send_batch("work", [f"job {i}" for i in range(500)])
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    start = ctx.Barrier(2)
    out = ctx.Queue()
    workers = [ctx.Process(target=_claim_all, args=(str(path), "work", start, out)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)

    claimed = results[0] + results[1]
    assert sorted(claimed) == sorted(ids)
    assert len(set(results[0]) & set(results[1])) == 0
    assert all(results), "both workers should have claimed some messages"
    assert all(worker.exitcode == 0 for worker in workers)


def _send_from_child(queue: LocalQueue) -> None:
    queue.send("work", "from the child")
    queue.close()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_can_use_the_parents_queue_object(tmp_path: Path) -> None:
    """Given a LocalQueue already used in this process, when a forked child sends through the same
    object, then the child opens its own connection, and the parent receives the message."""
    with LocalQueue(tmp_path / "forked.db") as queue:
        queue.declare(QueueSpec("work"))
        child = multiprocessing.get_context("fork").Process(target=_send_from_child, args=(queue,))
        child.start()
        child.join(timeout=30)

        assert child.exitcode == 0
        assert [m.body for m in queue.receive("work")] == ["from the child"]


# -- SQS (on moto): what the contract cannot see -------------------------------------------------


@pytest.fixture
def sqs(qname: Callable[[str], str]):
    from pilothouse.messaging.sqs import SqsQueue

    moto = _moto_server()
    client = moto.client("sqs")
    return SqsQueue(client=client), client


def test_sqs_moves_to_dead_letter_queue_keeping_id_body_attributes(sqs, qname: Callable[[str], str]) -> None:
    """Given an SQS queue with max_receive_count 2 and a DLQ, when a message is received twice without
    being deleted, then the next receive gets nothing and the DLQ holds it with the same id, body,
    attributes and sent_at (moto keeps counting receives there: see _MOTO_SQS_DEVIATIONS)."""
    queue, client = sqs
    dlq, main = qname("dlq"), qname("main")
    queue.declare(QueueSpec(dlq))
    queue.declare(QueueSpec(main, visibility_timeout=1, max_receive_count=2, dead_letter_queue=dlq))
    message_id = queue.send(main, "poison", attributes={"origin": "test"})
    for _ in range(2):
        [first] = queue.receive(main)
        time.sleep(1.5)

    assert queue.receive(main) == []
    [dead] = queue.receive(dlq)
    assert (dead.id, dead.body, dead.attributes) == (message_id, "poison", {"origin": "test"})
    assert dead.sent_at == first.sent_at
    policy = client.get_queue_attributes(
        QueueUrl=client.get_queue_url(QueueName=main)["QueueUrl"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]["RedrivePolicy"]
    assert '"maxReceiveCount": "2"' in policy or '"maxReceiveCount": 2' in policy


def test_sqs_declare_without_dead_letter_queue_removes_the_redrive_policy(
    sqs, qname: Callable[[str], str]
) -> None:
    """Given a queue declared with a DLQ, when it is re-declared without one,
    then SQS has no redrive policy."""
    queue, client = sqs
    dlq, main = qname("dlq"), qname("main")
    queue.declare(QueueSpec(dlq))
    queue.declare(QueueSpec(main, max_receive_count=2, dead_letter_queue=dlq))
    queue.declare(QueueSpec(main, visibility_timeout=7))

    url = client.get_queue_url(QueueName=main)["QueueUrl"]
    attributes = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "7"
    assert "RedrivePolicy" not in attributes


def test_sqs_send_batch_splits_by_count_and_size(sqs, qname: Callable[[str], str]) -> None:
    """Given 23 small bodies and 3 bodies of 100 KiB, when sent as one batch each, then every message
    arrives (SendMessageBatch takes 10 entries and 256 KiB at most) and the ids keep the order."""
    queue, _ = sqs
    name = qname("batch")
    queue.declare(QueueSpec(name))
    bodies = [f"m{i}" for i in range(23)] + ["x" * (100 * 1024) + str(i) for i in range(3)]

    ids = queue.send_batch(name, bodies)

    received = {}
    while batch := queue.receive(name):
        received.update({m.id: m.body for m in batch})
    assert received == dict(zip(ids, bodies, strict=True))


def test_sqs_rounds_fractional_delays_up(sqs, qname: Callable[[str], str]) -> None:
    """Given a message sent with a 0.2 s delay, when it is received at once, then it is still delayed
    (SQS delays are whole seconds, rounded up); 1.5 s later it is there."""
    queue, _ = sqs
    name = qname("delay")
    queue.declare(QueueSpec(name))
    queue.send(name, "later", delay_seconds=0.2)

    assert queue.receive(name) == []
    time.sleep(1.5)
    assert [m.body for m in queue.receive(name)] == ["later"]


def test_sqs_name_prefix_and_a_queue_deleted_behind_our_back(sqs, qname: Callable[[str], str]) -> None:
    """Given an adapter with a name prefix, when it declares a queue, then SQS names it with the prefix;
    when the queue is deleted outside the adapter, then the cached URL gives way to QueueNotFound."""
    from pilothouse.messaging.sqs import SqsQueue

    _, client = sqs
    prefix = qname("p") + "-"
    queue = SqsQueue(client=client, name_prefix=prefix)
    queue.declare(QueueSpec("jobs"))
    queue.send("jobs", "x")
    url = client.get_queue_url(QueueName=prefix + "jobs")["QueueUrl"]

    client.delete_queue(QueueUrl=url)

    with pytest.raises(QueueNotFound, match="'jobs'"):
        queue.send("jobs", "y")


def test_sqs_errors_carry_the_aws_code(sqs, qname: Callable[[str], str]) -> None:
    """Given a queue, when SQS refuses a message attribute name, then an SqsError (a MessagingError)
    carries AWS's error code."""
    from pilothouse.messaging.sqs import SqsError

    queue, _ = sqs
    name = qname("codes")
    queue.declare(QueueSpec(name))

    with pytest.raises(SqsError) as info:
        queue.send(name, "x", attributes={"bad name!": "v"})
    assert isinstance(info.value, MessagingError)
    assert info.value.code


# -- Azure Storage queues (on Azurite): what the contract cannot see -----------------------------


@pytest.fixture
def azure(qname: Callable[[str], str]):
    from pilothouse.messaging.azure_queue import AzureStorageQueue
    from tests.support.azurite import session_azurite

    connection = session_azurite().connection_string
    return AzureStorageQueue(connection_string=connection), connection


def test_azure_messages_and_settings_survive_a_new_adapter(azure, qname: Callable[[str], str]) -> None:
    """Given a queue with a DLQ (max 1 receive), an in-flight and a ready message, When a new adapter
    opens it, Then it receives the ready one with its attributes, and after the timeout both go to the
    DLQ (the queue's settings live in the queue's Azure metadata)."""
    from pilothouse.messaging.azure_queue import AzureStorageQueue

    queue, connection = azure
    dlq, main = qname("dlq"), qname("main")
    queue.declare(QueueSpec(dlq))
    queue.declare(QueueSpec(main, visibility_timeout=1, max_receive_count=1, dead_letter_queue=dlq))
    queue.send(main, "in-flight")
    [received] = queue.receive(main)
    queue.send(main, "ready", attributes={"a": "1"})

    reopened = AzureStorageQueue(connection_string=connection)

    [ready] = reopened.receive(main)
    assert (ready.body, ready.attributes, ready.receive_count) == ("ready", {"a": "1"}, 1)
    time.sleep(1.5)
    assert reopened.receive(main) == []
    assert sorted(m.id for m in reopened.receive(dlq)) == sorted([received.id, ready.id])


def test_azure_large_messages_travel_as_blobs(azure, qname: Callable[[str], str]) -> None:
    """Given messages over Azure's 64 KiB (up to the port's 256 KiB), When sent, received, dead-lettered
    and deleted, Then the bodies round-trip, the payload blob follows the message to the DLQ, and
    deleting (or purging) leaves no payload behind."""
    queue, connection = azure
    dlq, main = qname("dlq"), qname("main")
    queue.declare(QueueSpec(dlq))
    queue.declare(QueueSpec(main, visibility_timeout=1, max_receive_count=1, dead_letter_queue=dlq))
    big = "é" * (128 * 1024 - 10)  # 256 KiB of UTF-8 less 20 bytes
    message_id = queue.send(main, big, attributes={"kind": "large"})
    [first] = queue.receive(main)
    assert (first.id, first.body, first.attributes) == (message_id, big, {"kind": "large"})
    time.sleep(1.5)
    assert queue.receive(main) == []
    [dead] = queue.receive(dlq)
    assert (dead.id, dead.body) == (message_id, big)
    queue.delete(dlq, dead.receipt_handle)
    queue.send(main, "y" * 100_000)
    queue.purge(main)

    from azure.storage.blob import ContainerClient

    container = ContainerClient.from_connection_string(connection, queue.payload_container)
    assert [b.name for b in container.list_blobs() if qname("") in b.name] == []


def test_azure_messages_are_base64_envelopes_an_azure_trigger_can_read(
    azure, qname: Callable[[str], str]
) -> None:
    """Given a message sent through the adapter, When the raw Azure message is read as the Azure
    Functions queue trigger reads it (Base64 text), Then open_envelope gives our id, body and attributes."""
    import base64

    from azure.storage.queue import QueueClient

    from pilothouse.messaging.azure_queue import azure_queue_name, open_envelope

    queue, connection = azure
    name = qname("trigger")
    queue.declare(QueueSpec(name))
    message_id = queue.send(name, '{"job": 1}', attributes={"a": "b"})

    [raw] = QueueClient.from_connection_string(connection, azure_queue_name(name)).peek_messages()
    envelope = open_envelope(base64.b64decode(raw.content).decode())
    assert (envelope["id"], envelope["b"], envelope["a"]) == (message_id, '{"job": 1}', {"a": "b"})


def test_azure_queue_names_azure_refuses_are_spelled_safely(azure, qname: Callable[[str], str]) -> None:
    """Given port names Azure refuses (upper case, underscores, double dashes), When declared and used,
    Then each is its own Azure queue and messages do not cross."""
    from pilothouse.messaging.azure_queue import azure_queue_name

    queue, _ = azure
    names = [qname("Jobs_A"), qname("jobs-a"), qname("jobs--a")]
    assert len({azure_queue_name(n) for n in names}) == 3
    for name in names:
        queue.declare(QueueSpec(name))
        queue.send(name, name)
    assert [[m.body for m in queue.receive(n)] for n in names] == [[n] for n in names]


# -- Pub/Sub (on the test server): what depth cannot show ----------------------------------------


@pytest.fixture
def pubsub(tmp_path: Path):
    for case in _pubsub(Path(".")):
        yield case.queue


def test_pubsub_dead_letters_below_pubsubs_minimum_keeping_id_body_attributes(
    pubsub, qname: Callable[[str], str]
) -> None:
    """Given max_receive_count 2 (Pub/Sub's own policy takes 5 at least), when a message is received
    twice without an ack, then the next receive moves it to the DLQ with its id, body, attributes and
    send time, and the DLQ's first receive counts 1."""
    dlq, main = qname("dlq"), qname("main")
    pubsub.declare(QueueSpec(dlq))
    pubsub.declare(QueueSpec(main, visibility_timeout=1, max_receive_count=2, dead_letter_queue=dlq))
    message_id = pubsub.send(main, "poison", attributes={"origin": "test"})
    counts = []
    for _ in range(2):
        [first] = pubsub.receive(main)
        counts.append(first.receive_count)
        time.sleep(1.5)

    assert counts == [1, 2]
    assert pubsub.receive(main) == []
    [dead] = pubsub.receive(dlq, wait_seconds=2)
    assert (dead.id, dead.body, dead.attributes, dead.sent_at) == (
        message_id,
        "poison",
        {"origin": "test"},
        first.sent_at,
    )
    assert dead.receive_count == 1


def test_pubsub_native_dead_letter_policy_from_five_attempts(pubsub, qname: Callable[[str], str]) -> None:
    """Given max_receive_count 5 (Pub/Sub's dead-letter policy does the move), when a message is
    received 5 times, then the 6th receive finds it in the DLQ only, same id."""
    dlq, main = qname("dlq"), qname("main")
    pubsub.declare(QueueSpec(dlq))
    pubsub.declare(QueueSpec(main, visibility_timeout=1, max_receive_count=5, dead_letter_queue=dlq))
    message_id = pubsub.send(main, "poison")
    for expected in range(1, 6):
        [message] = pubsub.receive(main, wait_seconds=2)
        assert message.receive_count == expected
    time.sleep(1.2)
    assert pubsub.receive(main) == []
    assert [m.id for m in pubsub.receive(dlq, wait_seconds=2)] == [message_id]


@pytest.fixture
def pubsub_jobs(pubsub, qname: Callable[[str], str]) -> str:
    name = qname("jobs")
    pubsub.declare(QueueSpec(name, visibility_timeout=2))
    return name


def test_pubsub_delays_hide_a_message_until_due(pubsub, pubsub_jobs: str) -> None:
    """Given a message sent with a 2 s delay beside one without, when received at once, then only the
    other comes; 2.5 s later the delayed one does (Pub/Sub has no delay: the adapter hides it)."""
    pubsub.send(pubsub_jobs, "later", delay_seconds=2)
    pubsub.send(pubsub_jobs, "now")

    [now] = pubsub.receive(pubsub_jobs)
    assert now.body == "now"
    pubsub.delete(pubsub_jobs, now.receipt_handle)
    assert pubsub.receive(pubsub_jobs) == []
    time.sleep(2.5)
    assert [m.body for m in pubsub.receive(pubsub_jobs)] == ["later"]


def test_pubsub_purge_and_stale_deletes(pubsub, pubsub_jobs: str) -> None:
    """Given messages, when the queue is purged, then none is received; a stale ack id is ignored
    while the latest still deletes."""
    pubsub.send_batch(pubsub_jobs, ["a", "b"])
    pubsub.purge(pubsub_jobs)
    assert pubsub.receive(pubsub_jobs) == []
    pubsub.send(pubsub_jobs, "c")
    [first] = pubsub.receive(pubsub_jobs)
    time.sleep(2.5)
    [second] = pubsub.receive(pubsub_jobs)
    pubsub.delete(pubsub_jobs, first.receipt_handle)
    pubsub.change_visibility(pubsub_jobs, second.receipt_handle, 0)
    [third] = pubsub.receive(pubsub_jobs)
    pubsub.delete(pubsub_jobs, third.receipt_handle)
    time.sleep(2.5)
    assert pubsub.receive(pubsub_jobs) == []


def test_pubsub_depth_says_what_pubsub_cannot_count(pubsub, pubsub_jobs: str) -> None:
    """Given a declared queue, when depth is asked, then a MessagingError names the Monitoring metric."""
    with pytest.raises(MessagingError, match="num_undelivered_messages"):
        pubsub.depth(pubsub_jobs)
