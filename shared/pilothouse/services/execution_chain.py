"""A queue worker applies the steps that follow its own at once, in process.

A step applies the states due at once (up to ``workflow_states_per_step`` of them and about
``workflow_step_text_chars`` of their input and output) and stores them with its own conditional
write. When the execution has more to do at once after it (the bound stopped it), the worker that
applied the step goes on with the next one itself instead of sending an advance message and
receiving it again: every step is still its own persisted write, but the queue round trip and the
function's batch envelope are paid once per chain, not once per step.

A chain is bounded (:data:`CHAIN_STEPS` steps, :data:`CHAIN_SECONDS` of work) so that one long
loop never holds a worker past its message's visibility timeout and other executions get their
turn: its last step hands over by message as every step did before. A chain step that finds the
record changed by another writer (a stop, a callback, a redelivered message) stops: that writer's
step hands over. A worker killed mid-chain leaves a step stored without its message, as a worker
killed between a write and its send always could; :func:`~pilothouse.services.execution_steps.sweep`
re-sends it.
"""

from __future__ import annotations

import logging
import time

from pilothouse.ports import Item
from pilothouse.services.context import ServiceContext
from pilothouse.services.execution_steps import due_at_once, send_followups, step_once

log = logging.getLogger(__name__)

#: at most this many steps follow the one a message asked for, in one worker
CHAIN_STEPS = 100
#: and at most this long (far below any queue's visibility timeout)
CHAIN_SECONDS = 0.25


def chain(services: ServiceContext, written: Item) -> Item:
    """Go on from ``written`` (a step stored by :func:`step_once` with ``hand_over_now=False``)
    while the execution is due again at once; return the last record this worker stored."""
    started = time.monotonic()
    done = 0
    while due_at_once(written.data):
        data = written.data
        if done >= CHAIN_STEPS or time.monotonic() - started >= CHAIN_SECONDS:
            hand_over(services, data)
            return written
        done += 1
        try:
            nxt = step_once(
                services,
                data["workflow"],
                data["name"],
                None,
                expect_step=data["step"],
                known=written,
                hand_over_now=False,
            )
        except Exception:
            log.exception(
                "execution %s/%s: a chained step failed; handing over", data["workflow"], data["name"]
            )
            hand_over(services, data)
            return written
        if nxt is None:  # another writer applied the next step: it hands over
            return written
        written = nxt
    return written


def hand_over(services: ServiceContext, data: dict) -> None:
    """Send the advance message of a step stored without it (its task messages went already)."""
    send_followups(services, {**data, "outbox": []}, data["updated_epoch"])
