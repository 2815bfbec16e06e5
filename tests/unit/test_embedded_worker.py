"""The embedded cloud's queue worker: one poller per queue source, handler threads as batches need
them (at most ``pollers`` batches of a source at once), a prompt stop that still lets the batches
under way finish. Runs on the real local queue; the functions are fakes."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pilothouse.embedded.template import QueueSource
from pilothouse.embedded.worker import Worker
from pilothouse.messaging.local import LocalQueue
from pilothouse.ports import QueueSpec


class FakePool:
    """Records each batch's bodies; ``hold`` keeps a batch running until it is set."""

    def __init__(self, hold: threading.Event | None = None) -> None:
        self.hold = hold
        self.bodies: list[str] = []
        self.running = 0
        self.most = 0
        self.started = threading.Semaphore(0)
        self._lock = threading.Lock()

    def invoke(self, function: str, event: dict) -> dict:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.started.release()
        try:
            if self.hold is not None:
                assert self.hold.wait(30)
            with self._lock:
                self.bodies.extend(r["body"] for r in event["Records"])
            return {"batchItemFailures": []}
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def queue(tmp_path: Path):
    q = LocalQueue(tmp_path / "queue.db")
    q.declare(QueueSpec("jobs", visibility_timeout=60))
    q.declare(QueueSpec("steps", visibility_timeout=60))
    yield q
    q.close()


SOURCES = [QueueSource("run_job", "jobs", 1, True), QueueSource("run_step", "steps", 10, True)]


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _worker_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("worker-"))


def test_an_idle_worker_runs_one_poller_per_source_and_stops_at_once(queue):
    """Given a worker with 4 pollers per source on two idle sources (long polls of 20 s), when it has
    started, then it runs one thread per source; when it is stopped, it is back long before a long
    poll would end and no thread of it is left."""
    worker = Worker(queue, SOURCES, FakePool(), pollers=4, wait_seconds=20)  # type: ignore[arg-type]
    worker.start()
    try:
        assert _worker_threads() == ["worker-run_job-poller", "worker-run_step-poller"]
    finally:
        started = time.monotonic()
        worker.stop()
    assert time.monotonic() - started < 10
    _wait_for(lambda: _worker_threads() == [])


def test_messages_are_delivered_and_deleted(queue):
    """Given 25 messages on each source, when the worker runs, then each function gets every one of its
    messages once, and the queues end empty."""
    pool = FakePool()
    queue.send_batch("jobs", [f"job {i}" for i in range(25)])
    queue.send_batch("steps", [f"step {i}" for i in range(25)])
    worker = Worker(queue, SOURCES, pool)  # type: ignore[arg-type]
    worker.start()
    try:
        _wait_for(lambda: len(pool.bodies) == 50)
    finally:
        worker.stop()
    assert sorted(pool.bodies) == sorted([f"job {i}" for i in range(25)] + [f"step {i}" for i in range(25)])
    _wait_for(
        lambda: queue.depth("jobs") == queue.depth("steps") == {"visible": 0, "in_flight": 0, "delayed": 0}
    )


def test_at_most_pollers_batches_of_a_source_run_at_once_and_none_is_claimed_to_wait(queue):
    """Given a worker with 3 pollers and 5 single-message jobs whose function blocks, when it runs,
    then exactly 3 batches run at once and the other 2 messages stay visible (not claimed to wait
    for a thread); once released, all 5 are delivered."""
    hold = threading.Event()
    pool = FakePool(hold)
    queue.send_batch("jobs", [f"job {i}" for i in range(5)])
    worker = Worker(queue, SOURCES[:1], pool, pollers=3)  # type: ignore[arg-type]
    worker.start()
    try:
        for _ in range(3):
            assert pool.started.acquire(timeout=30)
        time.sleep(0.2)  # a fourth batch, were it wrongly started, would show now
        assert pool.running == 3
        assert queue.depth("jobs") == {"visible": 2, "in_flight": 3, "delayed": 0}
        hold.set()
        _wait_for(lambda: len(pool.bodies) == 5)
    finally:
        hold.set()
        worker.stop()
    assert pool.most == 3


def test_stop_lets_the_batch_under_way_finish(queue):
    """Given a batch running in a blocked function, when the worker is stopped and the function is
    released meanwhile, then stop returns after the batch finished and its message is deleted."""
    hold = threading.Event()
    pool = FakePool(hold)
    queue.send("jobs", "slow job")
    worker = Worker(queue, SOURCES[:1], pool)  # type: ignore[arg-type]
    worker.start()
    assert pool.started.acquire(timeout=30)
    threading.Timer(0.3, hold.set).start()
    worker.stop()
    assert pool.bodies == ["slow job"]
    assert queue.depth("jobs") == {"visible": 0, "in_flight": 0, "delayed": 0}


def test_a_worker_can_be_started_again_after_a_stop(queue):
    """Given a worker stopped once, when it is started again, then it delivers what was sent meanwhile."""
    pool = FakePool()
    worker = Worker(queue, SOURCES[:1], pool, wait_seconds=20)  # type: ignore[arg-type]
    worker.start()
    worker.stop()
    queue.send("jobs", "after the restart")
    worker.start()
    try:
        _wait_for(lambda: pool.bodies == ["after the restart"])
    finally:
        worker.stop()


def test_pollers_must_be_at_least_one(queue):
    with pytest.raises(ValueError, match="pollers"):
        Worker(queue, SOURCES, FakePool(), pollers=0)  # type: ignore[arg-type]
