"""The executions' sweep: what a dead worker left behind (see
:mod:`pilothouse.services.execution_steps`): long timers coming due are handed over, messages a
worker never sent are re-sent from the record's outbox, and a task whose worker stopped fails with
``States.TaskFailed`` (Retry decides) or, for a Distributed Map's S3 call and a callback task whose
function had not yet returned (its lease not yet marked ``invoked``), runs again.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

from pilothouse.clock import clock_seconds
from pilothouse.repositories.workflows import RUNNING, RUNNING_GRACE, ExecutionRepository, sync_listing
from pilothouse.services.context import ServiceContext
from pilothouse.services.execution_steps import (
    MAX_DELAY_SECONDS,
    SWEEP_HORIZON_SECONDS,
    Skip,
    apply_step,
    send_followups,
)


def _lapsed(services: ServiceContext, lease: dict, now: float, *, own_host: bool = False) -> bool:
    """A lease lapses at its time; on the embedded cloud (the local queue, or ``own_host``: the
    caller is the one control plane of this host's leases, as ``pilothouse dev`` after a restart
    on whatever store and queues) also as soon as its worker process is gone."""
    if lease.get("until") is None and lease.get("invoked", True):
        return False  # a callback task whose function ran: TimeoutSeconds / HeartbeatSeconds decide
    if lease["until"] is not None and lease["until"] < now:
        return True
    if (own_host or services.settings.queue == "local") and lease.get("host") == socket.gethostname():
        return lease.get("pid") != os.getpid() and not _pid_alive(lease.get("pid", 0))
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def _release(task_id: str) -> Callable[[Any, dict, float], object]:
    """The change that drops the lease of an idempotent task whose worker stopped (it runs again)."""

    def change(state: Any, data: dict, now: float) -> object:
        if task_id not in data.get("task_leases", {}):
            raise Skip
        data["task_leases"] = {k: v for k, v in data["task_leases"].items() if k != task_id}
        return None

    return change


def _lapse(task_id: str) -> Callable[[Any, dict, float], object]:
    """The change that fails a task whose worker stopped before it finished."""

    def change(state: Any, data: dict, now: float) -> object:
        from pilothouse.engine import complete_task

        return complete_task(
            state,
            task_id,
            error="States.TaskFailed",
            cause="the worker running this task stopped before it finished",
            now=now,
        )

    return change


def _has_map_run(data: dict) -> bool:
    from pilothouse.engine import ExecutionState

    return any(r.get("dmap") for r in ExecutionState(data["state"]).runs())


def sweep(services: ServiceContext, *, stale_after: float = 60.0, own_host: bool = False) -> dict[str, int]:
    """Hand over long timers coming due, re-send what a dead worker did not, fail lapsed tasks
    (``own_host``: see :func:`_lapsed`)."""
    from pilothouse.engine import ExecutionState

    counts = {"timers": 0, "resent": 0, "lapsed": 0}
    now = services.clock.time()
    for idx in services.store.scan_all(RUNNING):
        workflow, name = idx.data["workflow"], idx.data["name"]
        item = ExecutionRepository(services.store).get(workflow, name)
        if item is None and now - float(idx.data.get("at", 0.0)) < RUNNING_GRACE:
            continue  # written before its start's transaction, which may be under way
        if item is not None:
            sync_listing(services.store, workflow, name)  # a crash after a step's commit left it
        if item is None or item.data["status"] != "RUNNING":
            from pilothouse.services.execution_steps import drop_running

            drop_running(services, workflow, name)
            continue
        data = item.data
        tasks = {t["task_id"]: t for t in ExecutionState(data["state"]).outstanding_tasks()}
        outstanding = set(tasks)
        lapsed = [
            t
            for t, lease in data.get("task_leases", {}).items()
            if t in outstanding and _lapsed(services, lease, now, own_host=own_host)
        ]
        for task_id in lapsed:
            # a Distributed Map's S3 call, or a callback task's function cut short (it only hands
            # the token on): safe to do again
            if tasks[task_id].get("internal") or data["task_leases"][task_id].get("until") is None:
                if apply_step(services, workflow, name, _release(task_id)) is not None:
                    send_followups(services, {**data, "outbox": [task_id], "resume_at": None}, now)
            else:
                apply_step(services, workflow, name, _lapse(task_id))
            counts["lapsed"] += 1
        if lapsed:  # those steps sent their own messages; look again at what is left
            item = ExecutionRepository(services.store).get(workflow, name)
            if item is None or item.data["status"] != "RUNNING":
                continue
            data = item.data
            outstanding = {t["task_id"] for t in ExecutionState(data["state"]).outstanding_tasks()}
        if _has_map_run(data):
            from pilothouse.services.map_runs import recover

            moved = recover(services, data)
            counts["children"] = counts.get("children", 0) + sum(moved.values())
        # a message lost, not one still in a queue or in flight: real seconds on any clock
        stale = now - data.get("updated_epoch", 0) >= clock_seconds(services.clock, stale_after)
        # every outstanding task nobody holds may have lost its message (not only the last step's)
        unleased = sorted(t for t in outstanding if t not in data.get("task_leases", {}))
        if stale and unleased:
            send_followups(services, {**data, "outbox": unleased, "resume_at": None}, now)
            counts["resent"] += 1
        at = data.get("resume_at")
        handed_over = at is not None and at - data.get("updated_epoch", now) <= MAX_DELAY_SECONDS
        if at is not None and at - now <= SWEEP_HORIZON_SECONDS and (stale or not handed_over):
            send_followups(services, {**data, "outbox": []}, now, from_sweep=True)
            counts["timers"] += 1
    return counts
