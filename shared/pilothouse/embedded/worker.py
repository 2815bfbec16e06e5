"""The local queue worker: feeds queue-triggered functions SQS-shaped batches, like Lambda's poller.

Records a function reports in ``batchItemFailures`` (or every record, if the invocation raises)
stay on the queue and come back after the visibility timeout; the queue's redrive policy moves
them to the dead-letter queue after ``maxReceiveCount`` receives.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

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


class Worker:
    """Poller threads per queue source; ``stop()`` lets in-flight batches finish."""

    def __init__(
        self, queue: Queue, sources: list[QueueSource], pool: FunctionPool, pollers: int = 4
    ) -> None:
        self.queue = queue
        self.sources = sources
        self.pool = pool
        self.pollers = pollers
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for source in self.sources:
            for i in range(self.pollers):
                t = threading.Thread(
                    target=self._poll, args=(source,), name=f"worker-{source.function}-{i}", daemon=True
                )
                t.start()
                self._threads.append(t)

    def _poll(self, source: QueueSource) -> None:
        while not self._stopping.is_set():
            try:
                messages = self.queue.receive(
                    source.queue, max_messages=min(source.batch_size, 10), wait_seconds=0.5
                )
                if messages:
                    deliver(self.queue, source, self.pool, messages)
            except Exception:
                log.exception("worker for %s hit an error; going on", source.function)
                self._stopping.wait(1.0)

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
