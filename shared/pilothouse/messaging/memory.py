"""An in-memory queue for unit tests, with the same semantics as the other adapters (see :mod:`.base`).

Thread-safe; long polls wait on a condition variable, so a ``send`` from another thread wakes them.
Nothing survives the process.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field

from pilothouse.clock import Clock, SystemClock, clock_seconds
from pilothouse.messaging.base import (
    InvalidReceiptHandle,
    Message,
    QueueNotFound,
    QueueSpec,
    check_delay,
    check_message,
    check_receive,
    check_spec,
    check_visibility,
)

# While long-polling, look again at least this often (real seconds) so that messages made visible
# by the clock moving (not by a send) are noticed too.
_POLL_INTERVAL = 0.05


@dataclass
class _Stored:
    id: str
    body: str
    attributes: dict[str, str]
    sent_at: float
    visible_at: float
    seq: int
    receive_count: int = 0
    receipt: str | None = None


@dataclass
class _State:
    spec: QueueSpec
    messages: dict[str, _Stored] = field(default_factory=dict)  # by id


class MemoryQueue:
    """Named queues held in a dict, guarded by one lock."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._queues: dict[str, _State] = {}
        self._cond = threading.Condition()
        self._seq = itertools.count()

    # -- helpers -----------------------------------------------------------------------------------

    def _state(self, queue: str) -> _State:
        try:
            return self._queues[queue]
        except KeyError:
            raise QueueNotFound(queue) from None

    def _enqueue(self, state: _State, body: str, attributes: dict[str, str], delay: float) -> str:
        now = self._clock.time()
        message_id = str(uuid.uuid4())
        state.messages[message_id] = _Stored(
            id=message_id,
            body=body,
            attributes=dict(attributes),
            sent_at=now,
            visible_at=now + delay,
            seq=next(self._seq),
        )
        return message_id

    def _claim(self, queue: str, max_messages: int, visibility_timeout: int | None) -> list[Message]:
        state = self._state(queue)
        spec = state.spec
        timeout = spec.visibility_timeout if visibility_timeout is None else visibility_timeout
        now = self._clock.time()
        candidates = sorted(
            (m for m in state.messages.values() if m.visible_at <= now), key=lambda m: (m.visible_at, m.seq)
        )
        claimed: list[Message] = []
        for stored in candidates:
            if len(claimed) >= max_messages:
                break
            if (
                spec.dead_letter_queue is not None
                and spec.max_receive_count is not None
                and stored.receive_count >= spec.max_receive_count
            ):
                dlq = self._state(spec.dead_letter_queue)
                del state.messages[stored.id]
                stored.receive_count = 0
                stored.receipt = None
                stored.visible_at = now
                stored.seq = next(self._seq)
                dlq.messages[stored.id] = stored
                continue
            stored.receive_count += 1
            stored.receipt = f"{stored.id}.{secrets.token_hex(8)}"
            stored.visible_at = now + clock_seconds(self._clock, timeout)  # real seconds of work
            claimed.append(
                Message(
                    id=stored.id,
                    body=stored.body,
                    receipt_handle=stored.receipt,
                    receive_count=stored.receive_count,
                    sent_at=stored.sent_at,
                    attributes=dict(stored.attributes),
                )
            )
        return claimed

    @staticmethod
    def _find_by_receipt(state: _State, receipt_handle: str) -> _Stored | None:
        message_id = receipt_handle.rsplit(".", 1)[0]
        stored = state.messages.get(message_id)
        if stored is None or stored.receipt != receipt_handle:
            return None
        return stored

    # -- the port ----------------------------------------------------------------------------------

    def url_of(self, queue: str) -> str | None:
        """None: these queues have no URL a state machine could name."""
        return None

    def declare(self, spec: QueueSpec) -> None:
        check_spec(spec)
        with self._cond:
            if spec.dead_letter_queue is not None:
                self._state(spec.dead_letter_queue)
            existing = self._queues.get(spec.name)
            if existing is None:
                self._queues[spec.name] = _State(spec)
            else:
                existing.spec = spec

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
        with self._cond:
            message_id = self._enqueue(self._state(queue), body, attributes or {}, delay_seconds)
            self._cond.notify_all()
        return message_id

    def send_batch(self, queue: str, bodies: list[str], *, delay_seconds: float = 0) -> list[str]:
        check_delay(delay_seconds)
        for body in bodies:
            check_message(body, None)
        with self._cond:
            state = self._state(queue)
            ids = [self._enqueue(state, body, {}, delay_seconds) for body in bodies]
            self._cond.notify_all()
        return ids

    def receive(
        self,
        queue: str,
        *,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        wait_seconds: float = 0,
    ) -> list[Message]:
        check_receive(max_messages, visibility_timeout, wait_seconds)
        deadline = time.monotonic() + wait_seconds
        with self._cond:
            while True:
                claimed = self._claim(queue, max_messages, visibility_timeout)
                remaining = deadline - time.monotonic()
                if claimed or remaining <= 0:
                    return claimed
                self._cond.wait(min(remaining, _POLL_INTERVAL))

    def delete(self, queue: str, receipt_handle: str) -> None:
        with self._cond:
            state = self._state(queue)
            stored = self._find_by_receipt(state, receipt_handle)
            if stored is not None:
                del state.messages[stored.id]

    def change_visibility(self, queue: str, receipt_handle: str, timeout: float) -> None:
        check_visibility(timeout)
        with self._cond:
            state = self._state(queue)
            stored = self._find_by_receipt(state, receipt_handle)
            if stored is None:
                raise InvalidReceiptHandle(
                    f"receipt handle {receipt_handle!r} is not the latest of a message in {queue!r}"
                )
            stored.visible_at = self._clock.time() + clock_seconds(self._clock, timeout)
            if timeout == 0:
                self._cond.notify_all()

    def depth(self, queue: str) -> dict:
        with self._cond:
            state = self._state(queue)
            now = self._clock.time()
            counts = {"visible": 0, "in_flight": 0, "delayed": 0}
            for stored in state.messages.values():
                if stored.visible_at <= now:
                    counts["visible"] += 1
                elif stored.receipt is not None:
                    counts["in_flight"] += 1
                else:
                    counts["delayed"] += 1
            return counts

    def purge(self, queue: str) -> None:
        with self._cond:
            self._state(queue).messages.clear()
