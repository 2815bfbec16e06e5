"""Executions step by step: each queue message applies one step with a conditional write.

* an *advance* message names the step it was sent for; a step runs ``advance`` (one state by
  default), stores the new state and the history it produced, and hands over to the next message
  (at once, after the queue delay of a Wait or a retry back-off, or via the sweep for long waits);
  a step due at once is applied by the same worker instead, up to a bound
  (:mod:`pilothouse.services.execution_chain`);
* a *task* message names an outstanding task; the worker takes a lease on it (so a duplicate
  message never runs it twice), invokes the function, then applies the result as a step.

A redelivered or duplicated message finds the step already applied (step counter or lease) and
does nothing. A worker killed at any point loses nothing: :func:`sweep` re-sends the message of
every outstanding task nobody holds a lease on and of every timer, and a task whose worker died
fails with ``States.TaskFailed`` when its lease lapses, so Retry decides (no task runs more than
its retries allow).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from pilothouse.clock import clock_seconds, iso
from pilothouse.errors import Conflict, VersionConflict
from pilothouse.ports import Item, Write
from pilothouse.repositories import execution_bodies as bodies
from pilothouse.repositories.execution_chunks import StateMoved, load_state, pack_state
from pilothouse.repositories.workflows import (
    RECORD_SK,
    RUNNING,
    SUMMARY_KEYS,
    execution_pk,
    history_sk,
    running_put,
    running_sk,
    sync_listing,
)
from pilothouse.services import step_writes, task_relay
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)

MAX_DELAY_SECONDS = 900  # the longest delay a queue message can carry (SQS)
SWEEP_HORIZON_SECONDS = 120  # the sweep hands over timers due within this window
LEASE_MARGIN_SECONDS = 30
TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
ATTEMPTS = 20


class Skip(Exception):
    """Nothing to apply (stale message, finished execution, task already leased...)."""


def _before_step(services: ServiceContext, before: dict, after: dict) -> None:
    """What goes before a step's commit: a redriven execution's running entry."""
    if before["status"] in TERMINAL and after["status"] not in TERMINAL:
        services.store.put(running_put(after["workflow"], after["name"], services.clock.time()))


def _after_step(services: ServiceContext, before: dict, after: dict) -> None:
    """What follows a step's commit (see :mod:`pilothouse.repositories.workflows`): the listing
    entry when the summary changed, then an ended execution's running entry and its end marker
    for a parent. A crash in between is repaired by the execution sweep (which syncs the listing
    of every running entry, and drops an ended one) and by ``map_runs.recover`` (which reports a
    child that ended without its marker)."""
    workflow, name = after["workflow"], after["name"]
    if any(before.get(k) != after.get(k) for k in SUMMARY_KEYS):
        sync_listing(services.store, workflow, name)
    if after["status"] in TERMINAL and before["status"] not in TERMINAL:
        if after.get("parent"):
            from pilothouse.services.map_runs import end_marker

            services.store.transact([end_marker(after)])
        drop_running(services, workflow, name)


def drop_running(services: ServiceContext, workflow: str, name: str) -> None:
    """Delete an ended execution's running entry: read the entry, then the record, and delete the
    entry unchanged since read, so a redrive that wrote it again meanwhile keeps it."""
    entry = services.store.get(RUNNING, running_sk(workflow, name))
    if entry is None:
        return
    record = services.store.get(execution_pk(workflow, name), RECORD_SK)
    if record is None or record.data["status"] in TERMINAL:
        with contextlib.suppress(VersionConflict):
            services.store.delete(RUNNING, entry.sk, if_version=entry.version)


def apply_step(
    services: ServiceContext,
    workflow: str,
    name: str,
    change: Callable[[Any, dict, float], object] | None,
    *,
    expect_step: int | None = None,
    extra: list[Write] | None = None,
) -> dict | None:
    """Apply ``change`` (to the engine state) then advance, as one conditional write; send what
    the step produced. Retries on conflicting writes; returns the new record data or None if skipped.
    ``extra``: more writes of the same transaction (``change`` may fill the list: it is read after)."""
    written = step_once(services, workflow, name, change, expect_step=expect_step, extra=extra)
    return None if written is None else written.data


def step_once(
    services: ServiceContext,
    workflow: str,
    name: str,
    change: Callable[[Any, dict, float], object] | None,
    *,
    expect_step: int | None = None,
    extra: list[Write] | None = None,
    known: Item | None = None,
    hand_over_now: bool = True,
) -> Item | None:
    """:func:`apply_step`, returning the stored record (with its version). ``known``: the record
    as this worker stored it a moment ago (read again only if it changed since); with
    ``hand_over_now=False`` a step due again at once sends no message: the caller applies it
    (:mod:`pilothouse.services.execution_chain`)."""
    from pilothouse.engine import ExecutionState, InvokeTask, ResumeAt, StartChild, StopChild, advance

    for _ in range(ATTEMPTS):
        item, known = known or services.store.get(execution_pk(workflow, name), RECORD_SK), None
        if item is None:
            return None
        if expect_step is not None and item.data["step"] != expect_step:
            return None
        now = services.clock.time()
        try:
            item = bodies.join(services.store, item)
            st = ExecutionState(load_state(services.store, item))
        except StateMoved:
            continue
        data = item.data
        try:
            if change is not None:
                change(st, data, now)
        except Skip:
            return None
        st, effects = advance(
            st,
            now,
            max_states=services.settings.workflow_states_per_step,
            max_text=services.settings.workflow_step_text_chars,
        )
        events = st.drain_history()
        outstanding = {t["task_id"] for t in st.outstanding_tasks()}
        resume = [e.time for e in effects if isinstance(e, ResumeAt)]
        head, *chunks = pack_state(item.pk, st.data, data["state"], data["step"] + 1)
        new = {
            **data,
            "state": head,
            "status": st.status,
            "step": data["step"] + 1,
            "updated_epoch": now,
            "resume_at": min(resume) if resume else None,
            "outbox": [e.task_id for e in effects if isinstance(e, InvokeTask)],
            "task_leases": {k: v for k, v in data.get("task_leases", {}).items() if k in outstanding},
        }
        if events:
            new["text_seen"] = data.get("text_seen", 0) + bodies.event_chars(events)
        if st.status in TERMINAL:
            new.update(
                output=st.output,
                error=st.error,
                cause=st.cause,
                stop_date=iso(now),
                resume_at=None,
                outbox=[],
            )
        _before_step(services, data, new)
        stored, body_puts, body_gone = bodies.split(item.pk, new, new["step"])
        history = (
            bodies.history_writes(item.pk, history_sk(events[0]["id"]), events, bodies.watched(new))
            if events
            else []
        )
        ops, ahead, later = step_writes.compose(
            item, stored, history, list(extra or []), chunks[0] + body_puts, chunks[1] + body_gone
        )
        try:
            step_writes.write_ahead(services, ahead)
            written = services.store.transact(ops)[0]
        except VersionConflict:
            step_writes.drop(services, ahead)
            continue
        step_writes.drop(services, later)
        new.pop("body", None)
        if "body" in stored:
            new["body"] = stored["body"]
        written = Item(written.pk, written.sk, new, written.version, written.expires_at)
        if new["status"] in TERMINAL and (st.data.get("map_runs") or bodies.watched(new)):
            step_writes.drop_orphans(services, written)
        _after_step(services, data, new)
        send_followups(
            services, new, now, advance=hand_over_now or not due_at_once(new), relay=len(outstanding) == 1
        )
        children = [e for e in effects if isinstance(e, (StartChild, StopChild))]
        if children:
            from pilothouse.services.map_runs import follow

            follow(services, new, children)
        if new["status"] in TERMINAL:
            if new.get("parent"):
                _report_to_parent(services, new)
            else:
                announce_end(services, new)
        return written
    raise Conflict(f"execution {name!r} is too busy; retry")


def due_at_once(data: dict) -> bool:
    """The execution has more to do at once (its step stopped at the state budget)."""
    at = data.get("resume_at")
    return data["status"] == "RUNNING" and at is not None and at <= data["updated_epoch"]


def _report_to_parent(services: ServiceContext, data: dict) -> None:
    """A Distributed Map's child ended (its end marker is stored with its last step): ask for a
    harvest of its parent (one parent step counts every child that ended meanwhile); the sweep
    does if this fails."""
    try:
        link = data["parent"]
        services.queue.send(
            services.settings.executions_queue,
            json.dumps({"workflow": link["workflow"], "name": link["name"], "harvest": True}),
        )
    except Exception:
        log.exception(
            "child execution %s/%s ended; its parent will hear it from the sweep",
            data["workflow"],
            data["name"],
        )


def announce_end(services: ServiceContext, data: dict) -> None:
    """Tell the registered listeners (:mod:`pilothouse.services.execution_listeners`) that the
    execution ended; they run after the step is stored, and none of their errors reaches the step.
    Listeners are idempotent, so an end announced twice is harmless."""
    from pilothouse.services.execution_listeners import ExecutionEnded

    try:
        ended = ExecutionEnded.of(data)
    except ValueError:
        log.exception("execution %s/%s ended but cannot be announced", data.get("workflow"), data.get("name"))
        return
    services.listeners.announce(services, ended)


def send_followups(
    services: ServiceContext,
    data: dict,
    now: float,
    *,
    from_sweep: bool = False,
    advance: bool = True,
    relay: bool = False,
) -> None:
    """Hand the step over: task messages for new tasks, an advance message when there is a timer
    (``advance=False``: the tasks only; the caller goes on with the execution itself). With
    ``relay`` (the new task is the execution's only outstanding one, so no sibling waits in the
    queue before it) the worker handling this thread's message may run it next instead
    (:mod:`pilothouse.services.task_relay`)."""
    s = services.settings
    for task_id in data.get("outbox", []):
        if relay and not from_sweep and task_relay.hold(data["workflow"], data["name"], task_id):
            continue
        send_task(services, data["workflow"], data["name"], task_id)
    at = data.get("resume_at")
    if at is not None and advance:
        delay = max(0.0, at - now)
        horizon = SWEEP_HORIZON_SECONDS if from_sweep else MAX_DELAY_SECONDS
        if delay <= horizon:
            services.queue.send(
                s.executions_queue,
                json.dumps({"workflow": data["workflow"], "name": data["name"], "step": data["step"]}),
                delay_seconds=min(delay, MAX_DELAY_SECONDS),
            )


def send_task(services: ServiceContext, workflow: str, name: str, task_id: str) -> None:
    """The task message of an outstanding task."""
    services.queue.send(
        services.settings.tasks_queue,
        json.dumps({"workflow": workflow, "name": name, "task_id": task_id}),
    )


# -- queue handlers ------------------------------------------------------------------------------


def _relaying(services: ServiceContext) -> AbstractContextManager[Callable[[], task_relay.HeldTask | None]]:
    """The task relay around one queue message's handling (on the local queue only)."""

    def send(task: task_relay.HeldTask) -> None:
        try:
            send_task(services, task.workflow, task.name, task.task_id)
        except Exception:  # the sweep sends it (an outstanding task nobody holds)
            log.exception(
                "execution %s/%s: task %s could not be handed over", task.workflow, task.name, task.task_id
            )

    return task_relay.relaying(services.settings.queue == "local", send)


def _run_held(services: ServiceContext, take: Callable[[], task_relay.HeldTask | None]) -> None:
    """Run the tasks the steps of this message (and of those tasks) started, one after the other."""
    while (task := take()) is not None:
        try:
            run_task(services, task.workflow, task.name, task.task_id)
        except Exception:  # as if its message had failed: a message runs it again (or finds it done)
            log.exception(
                "execution %s/%s: task %s failed in the relay", task.workflow, task.name, task.task_id
            )
            with contextlib.suppress(Exception):
                send_task(services, task.workflow, task.name, task.task_id)


def handle_step_message(services: ServiceContext, body: str) -> str:
    msg = json.loads(body)
    if msg.get("harvest"):
        from pilothouse.services.map_runs import harvest

        return "harvested" if harvest(services, msg["workflow"], msg["name"]) else "stale"
    from pilothouse.services.execution_chain import chain

    written = step_once(
        services, msg["workflow"], msg["name"], None, expect_step=msg["step"], hand_over_now=False
    )
    if written is None:
        return "stale"
    return str(chain(services, written).data["status"])


def lease(services: ServiceContext, workflow: str, name: str, task_id: str) -> tuple[dict, dict] | None:
    """Take the task's lease; return the task and the execution's record, or None if it is gone or
    already taken."""
    from pilothouse.engine import ExecutionState
    from pilothouse.ports import task_call

    for _ in range(ATTEMPTS):
        item = services.store.get(execution_pk(workflow, name), RECORD_SK)
        if item is None or item.data["status"] != "RUNNING":
            return None
        try:
            data = bodies.join(services.store, item).data  # the lease is written on the head only
        except StateMoved:
            continue
        task = next(
            (t for t in ExecutionState(data["state"]).outstanding_tasks() if t["task_id"] == task_id), None
        )
        if task is None or task_id in data.get("task_leases", {}):
            return None
        now = services.clock.time()
        try:
            call = task_call(task["resource"], task["payload"])
            timeout = services.invoker.timeout_of(call.function)
        except Exception:  # unknown resource or function: the invocation reports it
            timeout = 60.0
        leased_for = clock_seconds(services.clock, timeout + LEASE_MARGIN_SECONDS)  # real seconds of work
        until = None if task.get("token") else now + leased_for
        lease = {"until": until, "taken_at": now, "host": socket.gethostname(), "pid": os.getpid()}
        if until is None:
            lease["invoked"] = False  # a callback task: mark_invoked once its function returned
        leases = {**data.get("task_leases", {}), task_id: lease}
        try:
            services.store.put(
                Item(item.pk, item.sk, {**item.data, "task_leases": leases}), if_version=item.version
            )
        except VersionConflict:
            continue
        return task, data
    return None


def mark_invoked(services: ServiceContext, workflow: str, name: str, task_id: str) -> None:
    """A callback task's function has returned: its lease says so, so that a sweep after a crash
    runs again only the invocations a dead worker cut short (never one that handed its token on)."""
    for _ in range(ATTEMPTS):
        item = services.store.get(execution_pk(workflow, name), RECORD_SK)
        held = item.data.get("task_leases", {}).get(task_id) if item is not None else None
        if item is None or held is None or item.data["status"] != "RUNNING":
            return  # already answered (the lease went with the task), or the execution ended
        leases = {**item.data["task_leases"], task_id: {**held, "invoked": True}}
        try:
            services.store.put(
                Item(item.pk, item.sk, {**item.data, "task_leases": leases}), if_version=item.version
            )
            return
        except VersionConflict:
            continue


def handle_task_message(services: ServiceContext, body: str) -> str:
    """Run one outstanding task (at most once) and apply its result; then the tasks that started."""
    msg = json.loads(body)
    with _relaying(services) as take:
        outcome = run_task(services, msg["workflow"], msg["name"], msg["task_id"])
        _run_held(services, take)
    return outcome


def run_task(services: ServiceContext, workflow: str, name: str, task_id: str) -> str:
    """Run one outstanding task (at most once: its lease) and apply its result."""
    from pilothouse.engine import complete_task

    leased = lease(services, workflow, name, task_id)
    if leased is None:
        return "stale"
    task, execution = leased
    output: Any = None
    error = cause = None
    if task.get("internal"):  # a Distributed Map's S3 call, never a Task state's
        output, error, cause = _s3_call(services, task)
    else:
        output, error, cause, waiting = _invoke(services, execution, task)
        if waiting:
            mark_invoked(services, workflow, name, task_id)
            return "waiting for callback"

    def change(st, data, now):
        if error is not None:
            complete_task(st, task_id, error=error, cause=cause, now=now)
        else:
            complete_task(st, task_id, output=output, now=now)

    from pilothouse.services.execution_chain import chain

    written = step_once(services, workflow, name, change, hand_over_now=False)
    if written is None:
        return "stale"
    chain(services, written)
    return "applied"


def _s3_call(services: ServiceContext, task: dict) -> tuple[Any, str | None, str | None]:
    """A Distributed Map's ItemReader / ResultWriter call, on the blobs port."""
    from pilothouse.engine.s3io import S3CallFailed
    from pilothouse.services.map_runs import s3_call

    try:
        return s3_call(services, task["resource"], task["payload"]), None, None
    except S3CallFailed as exc:
        return None, exc.error, exc.cause


def _invoke(
    services: ServiceContext, execution: dict, task: dict
) -> tuple[Any, str | None, str | None, bool]:
    """Run a Task's function; ``(output, error, cause, waiting for a callback)``."""
    from pilothouse.ports import FunctionError, UnknownFunction, lambda_envelope, task_call
    from pilothouse.services import execution_mocks, http_tasks
    from pilothouse.services.execution_invoker import ExecutionInvoker

    output: Any = None
    error = cause = None
    try:
        if execution.get("mock_case"):  # answered from the mock configuration, callbacks included
            return execution_mocks.answer(services, execution, task), None, None, False
        if http_tasks.is_http_task(task["resource"]):  # Step Functions' HTTP task, through the guard
            return http_tasks.invoke(services, execution, task["payload"]), None, None, False
        call = task_call(task["resource"], task["payload"])
        result = ExecutionInvoker(services, execution, task).invoke(call.function, call.payload)
        output = lambda_envelope(result) if call.lambda_envelope else result
        if call.wait_for_token:
            return None, None, None, True
    except execution_mocks.MockedFailure as exc:
        error, cause = exc.error, exc.cause
    except ValueError as exc:
        error, cause = "States.TaskFailed", str(exc)
    except UnknownFunction as exc:
        error, cause = "Lambda.ResourceNotFoundException", str(exc)
    except FunctionError as exc:
        error, cause = exc.error_type, json.dumps({"errorMessage": exc.message, "errorType": exc.error_type})
    return output, error, cause, False


def sweep(services: ServiceContext, *, stale_after: float = 60.0, own_host: bool = False) -> dict[str, int]:
    """Hand over long timers coming due, re-send what a dead worker did not, fail lapsed tasks
    (:mod:`pilothouse.services.execution_sweep`)."""
    from pilothouse.services.execution_sweep import sweep as sweep_executions

    return sweep_executions(services, stale_after=stale_after, own_host=own_host)
