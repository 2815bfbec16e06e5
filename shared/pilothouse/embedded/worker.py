"""The local queue worker: feeds queue-triggered functions SQS-shaped batches, like Lambda's poller.

Records a function reports in ``batchItemFailures`` (or every record, if the invocation raises)
stay on the queue and come back after the visibility timeout; the queue's redrive policy moves
them to the dead-letter queue after ``maxReceiveCount`` receives.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, Protocol, runtime_checkable

from pilothouse.embedded.functions import FunctionPool
from pilothouse.embedded.template import QueueSource
from pilothouse.messaging.base import Message, Queue
from pilothouse.runtime.events import sqs_event, sqs_record

log = logging.getLogger(__name__)


def deliver(queue: Queue, source: QueueSource, pool: FunctionPool, messages: list[Message]) -> list[str]:
    """Invoke the function with one batch; delete what succeeded; return the ids that failed."""
    event = sqs_event(
        sqs_record(
            source.queue,
            message_id=m.id,
            receipt_handle=m.receipt_handle,
            body=m.body,
            receive_count=m.receive_count,
            sent_at=m.sent_at,
            attributes=m.attributes,
        )
        for m in messages
    )
    try:
        result: Any = pool.invoke(source.function, event)
    except Exception:
        log.exception("function %s failed on a batch of %d", source.function, len(messages))
        return [m.id for m in messages]
    failed: set[str] = set()
    if source.report_failures and isinstance(result, dict):
        failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures") or []}
    for m in messages:
        if m.id not in failed:
            queue.delete(source.queue, m.receipt_handle)
    return sorted(failed)


@runtime_checkable
class InterruptibleQueue(Protocol):
    """A queue whose long polls can be ended early (the local queue): a stopping worker need not
    wait for its pollers' receives to time out."""

    def interrupt_receives(self, queue: str) -> None: ...


class _Handlers:
    """Up to ``size`` daemon threads running one source's batches, started as batches need them.

    The caller never has more than ``size`` batches submitted and unfinished (the poller's
    semaphore), so a batch never waits for a thread."""

    def __init__(self, name: str, size: int) -> None:
        self._name = name
        self._size = size
        self._work: SimpleQueue[Callable[[], None] | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._changed = threading.Condition()

    def submit(self, batch: Callable[[], None]) -> None:
        with self._changed:
            self._busy += 1
            if self._busy > len(self._threads) and len(self._threads) < self._size:
                t = threading.Thread(target=self._run, name=f"{self._name}-{len(self._threads)}", daemon=True)
                t.start()
                self._threads.append(t)
        self._work.put(batch)

    def _run(self) -> None:
        while (batch := self._work.get()) is not None:
            try:
                batch()
            finally:
                with self._changed:
                    self._busy -= 1
                    self._changed.notify_all()

    def shutdown(self, deadline: float) -> bool:
        """Let the batches under way finish (until ``deadline``, monotonic), then end the threads;
        True if every batch finished."""
        with self._changed:
            idle = self._changed.wait_for(lambda: self._busy == 0, max(0.0, deadline - time.monotonic()))
            threads, self._threads = self._threads, []
        for _ in threads:
            self._work.put(None)
        return idle


class Worker:
    """One poller thread per queue source, handing each batch it receives to that source's handler
    threads (at most ``pollers`` batches of one source at once); ``stop()`` lets in-flight batches
    finish.

    A poller receives only when a handler is free, so no message is claimed to wait for one. It
    long-polls ``wait_seconds`` at a time: the local queue wakes it at once for a send from this
    process and when a message comes due, and otherwise looks at its file for other processes' sends
    every ``cross_process_poll`` (1 s), so an idle worker costs a few small reads a second.
    """

    def __init__(
        self,
        queue: Queue,
        sources: list[QueueSource],
        pool: FunctionPool,
        pollers: int = 4,
        *,
        wait_seconds: float = 10.0,
    ) -> None:
        if pollers < 1:
            raise ValueError(f"pollers must be at least 1, got {pollers}")
        self.queue = queue
        self.sources = sources
        self.pool = pool
        self.pollers = pollers
        # a receive a stop cannot end early (SQS) keeps its wait short, so that stop() stays prompt
        self.wait_seconds = wait_seconds if isinstance(queue, InterruptibleQueue) else min(wait_seconds, 0.5)
        self._stopping = threading.Event()
        self._threads: list[tuple[QueueSource, threading.Thread]] = []
        self._handlers: list[_Handlers] = []

    def start(self) -> None:
        self._stopping.clear()
        for source in self.sources:
            handlers = _Handlers(f"worker-{source.function}", self.pollers)
            self._handlers.append(handlers)
            t = threading.Thread(
                target=self._poll,
                args=(source, handlers, threading.BoundedSemaphore(self.pollers)),
                name=f"worker-{source.function}-poller",
                daemon=True,
            )
            t.start()
            self._threads.append((source, t))

    def _poll(self, source: QueueSource, handlers: _Handlers, free: threading.BoundedSemaphore) -> None:
        while not self._stopping.is_set():
            if not free.acquire(timeout=0.5):  # every handler busy: look at the stop flag again
                continue
            try:
                messages = self.queue.receive(
                    source.queue, max_messages=min(source.batch_size, 10), wait_seconds=self.wait_seconds
                )
            except Exception:
                free.release()
                log.exception("worker for %s hit an error; going on", source.function)
                self._stopping.wait(1.0)
                continue
            if not messages:
                free.release()
                continue
            handlers.submit(self._batch(source, messages, free))

    def _batch(
        self, source: QueueSource, messages: list[Message], free: threading.BoundedSemaphore
    ) -> Callable[[], None]:
        def run() -> None:
            try:
                deliver(self.queue, source, self.pool, messages)
            except Exception:  # a delete failed: the messages come back after their visibility timeout
                log.exception("worker for %s could not settle a batch; going on", source.function)
            finally:
                free.release()

        return run

    def stop(self, timeout: float = 30.0) -> None:
        """Stop receiving now; wait up to ``timeout`` s for the batches under way."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for source, t in self._threads:
            # Interrupt until it is out: a poller may enter a receive just after an interrupt.
            while t.is_alive() and time.monotonic() < deadline:
                if isinstance(self.queue, InterruptibleQueue):
                    self.queue.interrupt_receives(source.queue)
                t.join(0.05)
        self._threads.clear()
        for handlers in self._handlers:
            handlers.shutdown(deadline)
        self._handlers.clear()
