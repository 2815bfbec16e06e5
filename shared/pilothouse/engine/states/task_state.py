"""The Task state: asks the driver to run work and waits for its outcome."""

from __future__ import annotations

import uuid
from typing import Any

from .. import history, paths
from ..errors import HEARTBEAT_TIMEOUT, QUERY_EVALUATION_ERROR, TIMEOUT, StatesError, runtime
from ..model import InvokeTask
from .base import BaseState


def _seconds(it: Any, flow: Any, st: dict, raw: Any, key: str) -> int | None:
    if key in st:
        value = flow.value(key, raw)
    elif key + "Path" in st:
        value = paths.resolve(st[key + "Path"], flow.effective_input(raw), flow.env, key + "Path")
    else:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1 or int(value) != value:
        msg = f"{key} must be a positive integer, got {value!r}"
        raise StatesError(QUERY_EVALUATION_ERROR, msg) if flow.jsonata else runtime(msg)
    return int(value)


def _is_sync(resource: str) -> bool:
    """True for the run-a-job pattern: ``...:startExecution.sync``, ``.sync:2``."""
    return resource.endswith(".sync") or ".sync:" in resource.rsplit("/", 1)[-1]


class TaskState(BaseState):
    """Emits :class:`~pilothouse.engine.model.InvokeTask` and handles timeouts."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Build the payload and request the task."""
        raw = run["input"]
        resource = it.flow(run, chain, st).value("Resource", raw)
        if not isinstance(resource, str) or not resource:
            raise runtime(f"Task Resource must be a non-empty string, got {resource!r}")
        token = (
            (it.data.get("token_prefix", "") + uuid.uuid4().hex)
            if resource.endswith(".waitForTaskToken")
            else None
        )
        # a .sync task has a task token on AWS too ($$.Task.Token resolves); it is not a
        # callback token: the driver still answers the task with the job's outcome
        context_token = token or (
            (it.data.get("token_prefix", "") + uuid.uuid4().hex) if _is_sync(resource) else None
        )
        run["task"] = None
        flow = it.flow(run, chain, st, token=context_token)
        payload = flow.payload(raw)
        it.check_size(payload, "task input")
        timeout = _seconds(it, flow, st, raw, "TimeoutSeconds")
        heartbeat = _seconds(it, flow, st, raw, "HeartbeatSeconds")
        it.data["task_counter"] = it.data.get("task_counter", 0) + 1
        task_id = f"task-{it.data['task_counter']}"
        task = {
            "task_id": task_id,
            "resource": resource,
            "token": token,
            "context_token": context_token,
            "state_name": run["state"],
            "retry_count": run.get("retry_count", 0),
            "timeout_at": it.now + timeout if timeout else None,
            "heartbeat_at": it.now + heartbeat if heartbeat else None,
            "heartbeat_seconds": heartbeat,
            "payload": payload,  # kept so a driver can re-issue the task after a crash
        }
        run["task"] = task
        rtype, rname = history.resource_parts(resource)
        sched = {
            "resourceType": rtype,
            "resource": rname,
            "region": "local",
            "parameters": history.dump(payload),
        }
        if timeout:
            sched["timeoutInSeconds"] = timeout
        if heartbeat:
            sched["heartbeatInSeconds"] = heartbeat
        it.emit(run, "TaskScheduled", sched)
        it.emit(run, "TaskStarted", {"resourceType": rtype, "resource": rname})
        credentials = st.get("Credentials")
        it.effects.append(
            InvokeTask(
                task_id=task_id,
                resource=resource,
                payload=payload,
                state_name=run["state"],
                retry_count=run.get("retry_count", 0),
                token=token,
                timeout_at=task["timeout_at"],
                heartbeat_at=task["heartbeat_at"],
                credentials=credentials,
            )
        )
        run["phase"] = "TASK_RUNNING"

    @staticmethod
    def poll(it: Any, run: dict, chain: list, st: dict) -> bool:
        """Process the recorded outcome, or time the task out."""
        task = run["task"]
        outcome = task.get("outcome")
        if outcome is None:
            for key, error in (("timeout_at", TIMEOUT), ("heartbeat_at", HEARTBEAT_TIMEOUT)):
                if task.get(key) is not None and it.now >= task[key]:
                    cause = "Task timed out." if error == TIMEOUT else "Task heartbeat timed out."
                    rtype, rname = history.resource_parts(task["resource"])
                    it.emit(
                        run,
                        "TaskTimedOut",
                        {"resourceType": rtype, "resource": rname, "error": error, "cause": cause},
                    )
                    task["outcome"] = {"error": error, "cause": cause}
                    it.cancel(task["task_id"], "timed out")
                    raise StatesError(error, cause)
            return False
        if "error" in outcome:
            raise StatesError(outcome["error"], outcome.get("cause") or "", by_task=True)
        it.finish_with_result(run, chain, st, outcome.get("output"))
        return True
