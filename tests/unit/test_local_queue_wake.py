"""The local queue's long polls wake on work: at once for a send from this process (any LocalQueue
on the same file), when a delayed or in-flight message comes due, and, for another process's send,
at the slow cross-process poll. A stopping worker can end them early.

The receives here wait far longer (20 s) than any wake should take, and the slow poll is set to
20 s as well, so a missing wake shows as a receive that takes 20 s: the bounds below only tell
"woken" from "timed out", they measure nothing.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from pilothouse.clock import ManualClock
from pilothouse.messaging.local import LocalQueue
from pilothouse.ports import QueueSpec

LONG = 20.0  # a long poll, and the slow poll: far more than any wake takes
WOKEN = 10.0  # a receive back before this was woken, not timed out


@pytest.fixture
def queue(tmp_path: Path):
    q = LocalQueue(tmp_path / "queue.db", cross_process_poll=LONG)
    q.declare(QueueSpec("work", visibility_timeout=30))
    yield q
    q.close()


def _later(seconds: float, action) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def _timed_receive(queue: LocalQueue, name: str = "work", **kwargs) -> tuple[list, float]:
    started = time.monotonic()
    got = queue.receive(name, wait_seconds=LONG, **kwargs)
    return got, time.monotonic() - started


def test_a_send_from_this_process_wakes_a_long_poll(queue):
    """Given a receive long-polling an empty queue (slow poll 20 s), when another thread sends,
    then the receive returns the message long before the slow poll would have seen it."""
    timer = _later(0.1, lambda: queue.send("work", "hello"))
    try:
        got, took = _timed_receive(queue)
    finally:
        timer.cancel()
    assert [m.body for m in got] == ["hello"]
    assert took < WOKEN


def test_a_send_through_another_object_on_the_same_file_wakes_a_long_poll(queue, tmp_path):
    """Given a receive long-polling through one LocalQueue, when a second LocalQueue of this process
    on the same file sends, then the receive is woken."""
    other = LocalQueue(tmp_path / "queue.db", cross_process_poll=LONG)
    timer = _later(0.1, lambda: other.send("work", "via the other"))
    try:
        got, took = _timed_receive(queue)
    finally:
        timer.cancel()
        other.close()
    assert [m.body for m in got] == ["via the other"]
    assert took < WOKEN


def test_a_send_to_another_queue_does_not_end_the_long_poll(queue):
    """Given a receive long-polling 'work' for 1 s, when a message is sent to 'other', then the receive
    still returns nothing (and the message waits in 'other')."""
    queue.declare(QueueSpec("other"))
    timer = _later(0.1, lambda: queue.send("other", "not yours"))
    try:
        assert queue.receive("work", wait_seconds=1) == []
    finally:
        timer.cancel()
    assert [m.body for m in queue.receive("other")] == ["not yours"]


def test_a_delayed_message_is_received_when_it_comes_due(queue):
    """Given a message sent with a 0.4 s delay, when a receive long-polls (slow poll 20 s), then it gets
    the message no sooner than its delay and long before the slow poll."""
    sent = time.monotonic()
    queue.send("work", "later", delay_seconds=0.4)
    got = queue.receive("work", wait_seconds=LONG)
    took = time.monotonic() - sent
    assert [m.body for m in got] == ["later"]
    assert 0.4 <= took < WOKEN


def test_a_message_whose_visibility_timeout_ends_is_received_again(queue):
    """Given a message received with a 1 s visibility timeout and not deleted, when another receive
    long-polls, then it gets the message again once the timeout ends (receive count 2)."""
    queue.send("work", "retry me")
    [first] = queue.receive("work", visibility_timeout=1)
    got, took = _timed_receive(queue)
    assert [(m.id, m.receive_count) for m in got] == [(first.id, 2)]
    assert 0.5 <= took < WOKEN


def test_a_change_of_visibility_to_now_wakes_a_long_poll(queue):
    """Given a received message hidden for 30 s and a receive long-polling, when the message's
    visibility is changed to 0, then the receive gets it at once."""
    queue.send("work", "again")
    [first] = queue.receive("work")
    timer = _later(0.1, lambda: queue.change_visibility("work", first.receipt_handle, 0))
    try:
        got, took = _timed_receive(queue)
    finally:
        timer.cancel()
    assert [m.id for m in got] == [first.id]
    assert took < WOKEN


def test_a_move_to_the_dead_letter_queue_wakes_its_long_poll(queue):
    """Given a queue whose messages dead-letter after one receive and a receive long-polling its DLQ,
    when the message comes back and is received again, then the DLQ's receive gets it."""
    queue.declare(QueueSpec("dlq"))
    queue.declare(QueueSpec("main", visibility_timeout=0, max_receive_count=1, dead_letter_queue="dlq"))
    queue.send("main", "poison")
    assert [m.body for m in queue.receive("main")] == ["poison"]
    timer = _later(0.1, lambda: queue.receive("main"))
    try:
        got, took = _timed_receive(queue, "dlq")
    finally:
        timer.cancel()
    assert [m.body for m in got] == ["poison"]
    assert took < WOKEN


def test_interrupt_receives_ends_a_long_poll_empty(queue):
    """Given a receive long-polling an empty queue, when its receives are interrupted, then it returns
    nothing at once; a later receive waits as usual."""
    timer = _later(0.1, lambda: queue.interrupt_receives("work"))
    try:
        got, took = _timed_receive(queue)
    finally:
        timer.cancel()
    assert got == []
    assert took < WOKEN
    started = time.monotonic()
    assert queue.receive("work", wait_seconds=0.3) == []
    assert time.monotonic() - started >= 0.3


def test_on_a_manual_clock_a_long_poll_sees_the_clock_move(tmp_path):
    """Given a queue on a manual clock holding a message delayed 60 s, and a receive long-polling,
    when the clock is moved past the delay, then the receive gets the message (it looks at the clock
    often, as it cannot sleep until a manual clock's time)."""
    clock = ManualClock()
    queue = LocalQueue(tmp_path / "manual.db", clock, cross_process_poll=LONG)
    queue.declare(QueueSpec("work"))
    queue.send("work", "in a minute", delay_seconds=60)
    timer = _later(0.1, lambda: clock.advance(61))
    try:
        got, took = _timed_receive(queue)
    finally:
        timer.cancel()
        queue.close()
    assert [m.body for m in got] == ["in a minute"]
    assert took < WOKEN


def test_the_cross_process_poll_must_be_positive(tmp_path):
    """Given a slow poll of 0, when a LocalQueue is made, then ValueError names it."""
    with pytest.raises(ValueError, match="cross_process_poll"):
        LocalQueue(tmp_path / "q.db", cross_process_poll=0)


# -- races -----------------------------------------------------------------------------------------


def test_senders_and_long_polling_receivers_race_without_loss_or_duplicates(queue):
    """Given 4 receivers long-polling and 4 senders each sending 50 messages (singly and in batches,
    some delayed 50 ms), when all are done, then every message was received exactly once and no
    receiver was left waiting for a wake that never came."""
    per_sender, senders, receivers = 50, 4, 4
    total = per_sender * senders
    got: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def send(i: int) -> None:
        for j in range(0, per_sender, 5):
            if j % 10 == 0:
                queue.send_batch("work", [f"{i}-{j + k}" for k in range(5)])
            else:
                for k in range(5):
                    queue.send("work", f"{i}-{j + k}", delay_seconds=0.05 if k % 2 else 0)

    def receive() -> None:
        while not done.is_set():
            batch = queue.receive("work", max_messages=3, wait_seconds=2)
            with lock:
                got.extend(m.body for m in batch)
                if len(got) >= total:
                    done.set()
            for m in batch:
                queue.delete("work", m.receipt_handle)

    threads = [threading.Thread(target=receive) for _ in range(receivers)]
    threads += [threading.Thread(target=send, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    assert done.wait(60), f"only {len(got)} of {total} received"
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert sorted(got) == sorted(f"{i}-{j}" for i in range(senders) for j in range(per_sender))


def _send_after(path: str, delay: float) -> None:
    time.sleep(delay)
    q = LocalQueue(Path(path))
    q.send("work", "from another process")
    q.close()


def test_a_send_from_another_process_is_seen_at_the_slow_poll(tmp_path):
    """Given a receive long-polling with a 0.2 s slow poll, when another process sends, then the
    receive gets the message (the other process cannot signal it: the slow poll finds it)."""
    path = tmp_path / "shared.db"
    queue = LocalQueue(path, cross_process_poll=0.2)
    queue.declare(QueueSpec("work"))
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    child = ctx.Process(target=_send_after, args=(str(path), 0.3))
    child.start()
    try:
        got, took = _timed_receive(queue)
    finally:
        child.join(30)
        queue.close()
    assert child.exitcode == 0
    assert [m.body for m in got] == ["from another process"]
    assert took < WOKEN
