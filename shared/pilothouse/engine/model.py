"""Serializable execution state and the effects the engine asks for.

:class:`ExecutionState` wraps one JSON-serializable dict holding the
definition, the tree of *runs* (the top-level workflow, Parallel branches
and Map iterations, each with its own position), variables, retry
counters, outstanding tasks, history and the final result.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
TIMED_OUT = "TIMED_OUT"
ABORTED = "ABORTED"
TERMINAL = frozenset({SUCCEEDED, FAILED, TIMED_OUT, ABORTED})

#: Step Functions' payload quota: 256 KiB.
MAX_PAYLOAD_BYTES = 256 * 1024


def to_epoch(now: Any) -> float:
    """Accept ``now`` as epoch seconds or a datetime; return epoch seconds."""
    if isinstance(now, datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return now.timestamp()
    return float(now)


_last_iso: tuple[float, str] = (float("nan"), "")


def iso(ts: float) -> str:
    """Format epoch seconds the way Step Functions shows timestamps (the last one is remembered: a
    step stamps all its events with one time)."""
    global _last_iso
    last = _last_iso
    if last[0] == ts:
        return last[1]
    dt = datetime.fromtimestamp(ts, tz=UTC)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"
    _last_iso = (ts, text)
    return text


@dataclass(frozen=True)
class InvokeTask:
    """Ask the driver to run a task and report back with ``complete_task``."""

    task_id: str
    resource: str
    payload: Any
    state_name: str
    retry_count: int = 0
    token: str | None = None
    timeout_at: float | None = None
    heartbeat_at: float | None = None
    credentials: dict | None = None

    def to_dict(self) -> dict:
        """Return the effect as a JSON-serializable dict."""
        return {"type": "InvokeTask", **asdict(self)}


@dataclass(frozen=True)
class ResumeAt:
    """Ask the driver to call ``advance`` again at ``time`` (epoch seconds)."""

    time: float

    def to_dict(self) -> dict:
        """Return the effect as a JSON-serializable dict."""
        return {"type": "ResumeAt", "time": self.time}


@dataclass(frozen=True)
class CancelTask:
    """A previously requested task is no longer wanted (best effort)."""

    task_id: str
    reason: str = ""

    def to_dict(self) -> dict:
        """Return the effect as a JSON-serializable dict."""
        return {"type": "CancelTask", "task_id": self.task_id, "reason": self.reason}


@dataclass(frozen=True)
class StartChild:
    """Ask the driver to start (once: ``name`` is unique) a child execution of a Distributed Map
    and to report its end with ``complete_child``."""

    name: str
    arn: str
    state_machine_arn: str
    map_run: str
    map_run_arn: str
    index: int
    definition: dict
    input: Any

    def to_dict(self) -> dict:
        """Return the effect as a JSON-serializable dict."""
        return {"type": "StartChild", **asdict(self)}


@dataclass(frozen=True)
class StopChild:
    """A child execution of a Distributed Map is no longer wanted: stop it (best effort)."""

    name: str
    map_run: str
    reason: str = ""

    def to_dict(self) -> dict:
        """Return the effect as a JSON-serializable dict."""
        return {"type": "StopChild", "name": self.name, "map_run": self.map_run, "reason": self.reason}


Effect = Any  # InvokeTask | ResumeAt | CancelTask | StartChild | StopChild


@dataclass
class ExecutionState:
    """The whole, JSON-serializable state of one execution.

    ``data`` is a plain dict; use :meth:`to_dict` / :meth:`from_dict` to
    persist it.  Engine functions update the object they are given and
    return it; call :meth:`copy` first to keep an old version.
    """

    data: dict = field(default_factory=dict)

    @property
    def status(self) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED."""
        return self.data["status"]

    @property
    def output(self) -> Any:
        """The execution output once SUCCEEDED (else None)."""
        return self.data.get("output")

    @property
    def error(self) -> str | None:
        """The error name of a failed/timed out/aborted execution."""
        return self.data.get("error")

    @property
    def cause(self) -> str | None:
        """The cause of a failed/timed out/aborted execution."""
        return self.data.get("cause")

    @property
    def history(self) -> list:
        """History events so far (dicts shaped like AWS GetExecutionHistory)."""
        return self.data["history"]

    def drain_history(self) -> list:
        """Events recorded since the last drain, removed from the state (see ``history.drain``)."""
        from .history import drain

        return drain(self.data)

    @property
    def root(self) -> dict:
        """The run of the top-level workflow."""
        return self.data["root"]

    @property
    def definition(self) -> dict:
        """The state machine definition."""
        return self.data["definition"]

    def to_dict(self) -> dict:
        """Return a deep copy of the state as JSON-compatible data."""
        return copy.deepcopy(self.data)

    @classmethod
    def from_dict(cls, data: dict) -> ExecutionState:
        """Rebuild a state from :meth:`to_dict` output."""
        return cls(copy.deepcopy(data))

    def to_json(self) -> str:
        """Serialize to JSON text."""
        return json.dumps(self.data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ExecutionState:
        """Parse :meth:`to_json` output."""
        return cls(json.loads(text))

    def copy(self) -> ExecutionState:
        """Return an independent copy."""
        return ExecutionState(copy.deepcopy(self.data))

    def runs(self) -> Iterator[dict]:
        """Iterate over every run (depth first, parents before children)."""
        stack = [self.data["root"]]
        while stack:
            run = stack.pop()
            yield run
            stack.extend(reversed(run.get("children") or []))

    def positions(self) -> list:
        """Where every unfinished run stands: ``[{run, state, phase}]``.

        Includes the top-level workflow (``run == "root"``) and each
        running Parallel branch / Map iteration.
        """
        return [
            {"run": r["id"], "state": r.get("state"), "phase": r.get("phase")}
            for r in self.runs()
            if r.get("status") == RUNNING
        ]

    def outstanding_tasks(self) -> list:
        """Tasks requested and not yet completed: ``[{task_id, token, ...}]``."""
        out = []
        for run in self.runs():
            task = run.get("task")
            if run.get("status") == RUNNING and run.get("phase") == "TASK_RUNNING" and task:
                out.append(dict(task))
        return out

    def find_task_by_token(self, token: str) -> str | None:
        """Return the task id waiting for callback ``token`` (or None)."""
        for task in self.outstanding_tasks():
            if task.get("token") == token:
                return task["task_id"]
        return None


def new_run(run_id: str, def_path: list, state_name: str, state_input: Any, prev_event: int) -> dict:
    """Create a run positioned to enter ``state_name`` with ``state_input``."""
    return {
        "id": run_id,
        "def": list(def_path),
        "status": RUNNING,
        "state": state_name,
        "phase": "ENTER",
        "input": state_input,
        "vars": {},
        "prev": prev_event,
    }
