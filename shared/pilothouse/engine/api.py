"""The durable, resumable API: start / advance / complete_task / ... / redrive.

Every function takes an :class:`~pilothouse.engine.model.ExecutionState`,
updates it in place and returns it (``advance`` also returns effects).
Nothing here sleeps, spawns threads or calls tasks: the driver performs
the effects and reports back.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from . import history
from .errors import DATA_LIMIT_EXCEEDED, RUNTIME, TIMEOUT, EngineUsageError
from .machine import MAX_HISTORY_EVENTS, HistoryLimitExceeded, Interpreter
from .model import (
    ABORTED,
    FAILED,
    MAX_PAYLOAD_BYTES,
    RUNNING,
    SUCCEEDED,
    TIMED_OUT,
    ExecutionState,
    ResumeAt,
    iso,
    new_run,
    to_epoch,
)
from .paths import payload_size
from .validation import load

_MISSING = object()
REGION = "local"
ACCOUNT = "000000000000"


def start(
    definition: Any,
    input: Any = None,
    *,
    execution_name: str | None = None,
    execution_arn: str | None = None,
    now: Any = None,
    state_machine_name: str = "StateMachine",
    state_machine_arn: str | None = None,
    role_arn: str | None = None,
    token_prefix: str = "",
) -> ExecutionState:
    """Validate ``definition`` and create a RUNNING execution (nothing runs yet).

    Raises :class:`~pilothouse.engine.errors.DefinitionError` for an invalid
    definition.  ``token_prefix`` starts every task token of the execution (a driver can
    encode where the execution lives, to find it again from a token alone).
    ``now`` is epoch seconds or a datetime (default: wall clock).
    """
    definition = load(definition)
    ts = to_epoch(now) if now is not None else time.time()
    name = execution_name or str(uuid.uuid4())
    sm_arn = state_machine_arn or f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{state_machine_name}"
    ex_arn = execution_arn or f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{state_machine_name}:{name}"
    role = role_arn or f"arn:aws:iam::{ACCOUNT}:role/pilothouse-local"
    payload = {} if input is None else input
    data = {
        "version": 1,
        "definition": definition,
        "status": RUNNING,
        "execution": {
            "Id": ex_arn,
            "Name": name,
            "Input": payload,
            "StartTime": iso(ts),
            "RoleArn": role,
            "RedriveCount": 0,
        },
        "state_machine": {"Id": sm_arn, "Name": state_machine_name},
        "start_time": ts,
        "timeout_at": ts + definition["TimeoutSeconds"] if "TimeoutSeconds" in definition else None,
        "history": [],
        "pending_effects": [],
        "token_prefix": token_prefix,
    }
    history.append(
        data,
        "ExecutionStarted",
        ts,
        {"input": history.dump(payload), "inputDetails": {"truncated": False}, "roleArn": role},
    )
    data["root"] = new_run("root", [], definition["StartAt"], payload, 1)
    return ExecutionState(data)


def advance(
    state: ExecutionState, now: Any, *, max_states: int | None = None, max_text: int | None = None
) -> tuple:
    """Run every step possible at time ``now``; return ``(state, effects)``.

    With ``max_states``, stop once that many states have been left (a durable driver persists
    after them); a :class:`ResumeAt` at ``now`` then says there is more to do at once. With
    ``max_text`` too, stop also once the states left carried about that many characters of input
    and output (at least one state is always left).

    Effects are :class:`InvokeTask` (perform, then ``complete_task``),
    :class:`CancelTask` (best effort) and one :class:`ResumeAt` giving the
    next time ``advance`` has timed work (Wait, retry back-off, timeouts).
    No effects and a terminal ``state.status`` means the execution is over.
    """
    ts = to_epoch(now)
    data = state.data
    effects = [_effect(e) for e in data.pop("pending_effects", [])]
    data["pending_effects"] = []
    if data["status"] != RUNNING:
        return state, effects
    it = Interpreter(state, ts)
    it.budget = max_states
    it.text_budget = max_text
    if data.get("timeout_at") is not None and ts >= data["timeout_at"]:
        it.abort_run(data["root"], "execution timed out")
        _finish(data, TIMED_OUT, ts, error=TIMEOUT, cause="The execution timed out.")
        return state, effects + it.effects
    root = data["root"]
    it.guard_history = True
    try:
        it.drive(root, [root])
    except HistoryLimitExceeded:
        it.abort_run(root, "history limit exceeded")
        _finish(
            data,
            FAILED,
            ts,
            error=RUNTIME,
            cause=f"The execution reached the maximum number of history events ({MAX_HISTORY_EVENTS}).",
        )
        return state, effects + it.effects
    if root["status"] == SUCCEEDED:
        _finish(data, SUCCEEDED, ts, output=root.get("output"))
    elif root["status"] == FAILED:
        _finish(data, FAILED, ts, error=root.get("error"), cause=root.get("cause"))
    effects.extend(it.effects)
    if data["status"] == RUNNING:
        wake = it.next_wakeup()
        if it.yielded:
            wake = ts
        if wake is not None:
            effects.append(ResumeAt(wake))
    return state, effects


def _effect(d: dict) -> Any:
    from .model import CancelTask, StopChild

    if d.get("type") == "StopChild":
        return StopChild(d["name"], d["map_run"], d.get("reason", ""))
    return CancelTask(d["task_id"], d.get("reason", ""))


def _finish(
    data: dict, status: str, ts: float, *, output: Any = None, error: Any = None, cause: Any = None
) -> None:
    data["status"] = status
    data["stop_time"] = ts
    if status == SUCCEEDED:
        data["output"] = output
        history.append(
            data,
            "ExecutionSucceeded",
            ts,
            {"output": history.dump(output), "outputDetails": {"truncated": False}},
        )
        return
    data["error"] = error
    data["cause"] = cause
    event = {FAILED: "ExecutionFailed", TIMED_OUT: "ExecutionTimedOut", ABORTED: "ExecutionAborted"}[status]
    details = {}
    if error is not None:
        details["error"] = error
    if cause is not None:
        details["cause"] = cause
    history.append(data, event, ts, details)


def _find_task(state: ExecutionState, task_id: str) -> dict | None:
    for run in state.runs():
        task = run.get("task")
        if (
            run.get("status") == RUNNING
            and run.get("phase") == "TASK_RUNNING"
            and task
            and task.get("task_id") == task_id
            and "outcome" not in task
        ):
            return run
    return None


def complete_task(
    state: ExecutionState,
    task_id: str,
    output: Any = _MISSING,
    *,
    error: str | None = None,
    cause: str | None = None,
    now: Any = None,
) -> ExecutionState:
    """Record the outcome of a task requested by an :class:`InvokeTask` effect.

    Pass ``output=`` for success, or ``error=`` (and ``cause=``) for
    failure.  Unknown or already settled task ids (e.g. a task that timed
    out or was cancelled) are ignored.  Call :func:`advance` afterwards.
    """
    run = _find_task(state, task_id)
    if run is None:
        return state
    ts = to_epoch(now) if now is not None else time.time()
    it = Interpreter(state, ts)
    task = run["task"]
    if task.get("internal"):  # a Distributed Map's S3 call: no Task events, the state reads it
        failed = error is not None or output is _MISSING
        task["outcome"] = (
            {"error": error or "States.TaskFailed", "cause": cause or ""} if failed else {"output": output}
        )
        return state
    rtype, rname = history.resource_parts(task["resource"])
    if error is None and output is not _MISSING and payload_size(output) > MAX_PAYLOAD_BYTES:
        # as AWS records it: the task fails with States.DataLimitExceeded (a TaskFailed event,
        # which a States.ALL catcher handles), and the oversized result is not kept
        subject = rtype if ":states:::" in task["resource"] else task["resource"]
        error = DATA_LIMIT_EXCEEDED
        cause = (
            f"The state/task '{subject}' returned a result with a size exceeding the maximum number "
            f"of bytes service limit."
        )
    if error is not None or output is _MISSING:
        err = error if error is not None else "States.TaskFailed"
        task["outcome"] = {"error": err, "cause": cause or ""}
        it.emit(
            run, "TaskFailed", {"resourceType": rtype, "resource": rname, "error": err, "cause": cause or ""}
        )
    else:
        task["outcome"] = {"output": output}
        it.emit(
            run,
            "TaskSucceeded",
            {
                "resourceType": rtype,
                "resource": rname,
                "output": history.dump(output),
                "outputDetails": {"truncated": False},
            },
        )
    return state


def complete_child(
    state: ExecutionState,
    map_run: str,
    index: int,
    status: str,
    output: Any = None,
    *,
    error: str | None = None,
    cause: str | None = None,
    start_date: str | None = None,
    stop_date: str | None = None,
) -> bool:
    """Record the end of a Distributed Map's child execution (asked for by a
    :class:`~pilothouse.engine.model.StartChild` effect): its ``status`` (SUCCEEDED, FAILED,
    TIMED_OUT or ABORTED) and ``output`` or ``error``/``cause``; ``start_date``/``stop_date`` are
    its ISO times (for the result files). Idempotent: returns False (and changes nothing) when that
    child is not running any more. Call :func:`advance` afterwards."""
    from .states.distributed_map import complete_child as record

    for run in state.runs():
        d = run.get("dmap")
        if run.get("status") == RUNNING and d and d.get("id") == map_run:
            return record(run, index, status, output, error, cause, start_date, stop_date)
    return False


def pending_children(state: ExecutionState) -> list:
    """The :class:`~pilothouse.engine.model.StartChild` of every child execution the execution is
    waiting for (a driver that may have lost some starts asks again: names are stable)."""
    from .states.distributed_map import DistributedMap

    out: list = []
    if state.data["status"] != RUNNING:
        return out
    it = Interpreter(state, 0.0)
    for run in state.runs():
        d = run.get("dmap")
        if run.get("status") == RUNNING and d and d.get("stage") == "children":
            st = it.state_def(run)
            out.extend(DistributedMap.start_child(it, run, st, index) for index in d["running"])
    return out


def heartbeat(state: ExecutionState, task_id: str, now: Any = None) -> ExecutionState:
    """Record a heartbeat for an outstanding task (restarts HeartbeatSeconds)."""
    run = _find_task(state, task_id)
    if run is not None and run["task"].get("heartbeat_seconds"):
        ts = to_epoch(now) if now is not None else time.time()
        run["task"]["heartbeat_at"] = ts + run["task"]["heartbeat_seconds"]
    return state


def stop(
    state: ExecutionState, error: str | None = None, cause: str | None = None, now: Any = None
) -> ExecutionState:
    """Abort a RUNNING execution; outstanding tasks are reported as CancelTask
    effects by the next :func:`advance`."""
    if state.data["status"] != RUNNING:
        return state
    ts = to_epoch(now) if now is not None else time.time()
    it = Interpreter(state, ts)
    it.abort_run(state.data["root"], "execution aborted")
    state.data["pending_effects"].extend(e.to_dict() for e in it.effects)
    _finish(state.data, ABORTED, ts, error=error, cause=cause)
    return state


def redrive(state: ExecutionState, now: Any = None) -> ExecutionState:
    """Restart a FAILED, TIMED_OUT or ABORTED execution from where it stopped.

    Successful states are not re-run: the failed state is re-entered and,
    for Parallel and Map states, only branches/iterations that did not
    succeed are re-driven.  Call :func:`advance` afterwards.
    """
    data = state.data
    if data["status"] not in (FAILED, TIMED_OUT, ABORTED):
        raise EngineUsageError(f"cannot redrive an execution whose status is {data['status']}")
    ts = to_epoch(now) if now is not None else time.time()
    data["execution"]["RedriveCount"] = data["execution"].get("RedriveCount", 0) + 1
    data["execution"]["RedriveTime"] = iso(ts)
    for k in ("output", "error", "cause", "stop_time"):
        data.pop(k, None)
    data["status"] = RUNNING
    if "TimeoutSeconds" in data["definition"]:
        data["timeout_at"] = ts + data["definition"]["TimeoutSeconds"]
    history.append(data, "ExecutionRedriven", ts, {"redriveCount": data["execution"]["RedriveCount"]})
    _redrive_run(data["root"], data["history"][-1]["id"])
    return state


def _redrive_run(run: dict, prev: int) -> None:
    if run.get("status") == SUCCEEDED:
        return
    run["status"] = RUNNING
    run["prev"] = prev
    for k in ("error", "cause", "settled"):
        run.pop(k, None)
    from .states.distributed_map import redrive as redrive_map_run

    if redrive_map_run(run):
        return
    children = run.get("children")
    if run.get("phase") == "CHILDREN" and children is not None:
        for child in children:
            if child.get("status") != SUCCEEDED:
                _redrive_run(child, prev)
        return
    Interpreter.clear_state(run)
    run["phase"] = "ENTER"
