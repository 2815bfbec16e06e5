"""A queue worker of the embedded cloud runs the next task of its execution itself.

A step that starts a task hands it over by a task message; the worker that receives the message
leases the task, runs it and applies its result as a step, which often starts the execution's next
task at once (a deployment's gate, then its step, then the next gate ...). While a worker handles
a task message, a task such a step starts as its execution's only outstanding task (nothing of the
same execution waits in the queue before it: a fan-out's tasks still go by message, in order) is
*held* instead of sent; when the handling is done, the same worker runs it exactly as its message
would have been run (lease, invoke, step), and so on. Every step is still its own conditional
write and every task its own lease; what is saved is the send, the poller's claim, the delete and
the batch envelope of each hop, and a second thread contending for the GIL.

A relay is bounded (:data:`RELAY_TASKS` tasks, and none starts after :data:`RELAY_SECONDS`) so
that one long execution does not keep a worker for ever; past the bound, or when the handling
fails, a held task goes by message as before. A worker killed while it holds a task leaves an
outstanding task without a lease or a message, as a worker killed between a step's write and its
send always could: :func:`~pilothouse.services.execution_steps.sweep` sends its message.

Only on the local queue (the embedded cloud): a cloud worker (a Lambda invocation) has a deadline
of its own, which a task run in its time could overrun.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

#: at most this many tasks run by one worker after its message's own work
RELAY_TASKS = 100
#: and none starts once the worker has been at it this long (seconds)
RELAY_SECONDS = 5.0


@dataclass(frozen=True)
class HeldTask:
    workflow: str
    name: str
    task_id: str


@dataclass
class _Relay:
    started: float
    held: HeldTask | None = None
    ran: int = 0

    def open(self) -> bool:
        return self.ran < RELAY_TASKS and time.monotonic() - self.started < RELAY_SECONDS


#: the relay of the queue message this thread is handling (None outside one)
_current: ContextVar[_Relay | None] = ContextVar("pilothouse_task_relay", default=None)


def hold(workflow: str, name: str, task_id: str) -> bool:
    """Called for each task a step starts: True if this thread's worker takes the task over (then
    no message is sent for it), False if it goes by message."""
    relay = _current.get()
    if relay is None or relay.held is not None or not relay.open():
        return False
    relay.held = HeldTask(workflow, name, task_id)
    return True


@contextmanager
def relaying(enabled: bool, send: Callable[[HeldTask], None]) -> Iterator[Callable[[], HeldTask | None]]:
    """Around the handling of one queue message (``enabled``: on the local queue): yields ``take``,
    which hands out the held task (None when there is none, or past the bound) for the caller to
    run; a task still held at the end, or when the handling raises, goes by ``send``."""
    if not enabled or _current.get() is not None:  # nested: the outer handling relays
        yield lambda: None
        return
    relay = _Relay(time.monotonic())
    token = _current.set(relay)

    def take() -> HeldTask | None:
        task = relay.held
        if task is None or not relay.open():
            return None
        relay.held = None
        relay.ran += 1
        return task

    try:
        yield take
    finally:
        _current.reset(token)
        if relay.held is not None:
            send(relay.held)
