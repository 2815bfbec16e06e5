"""The interpreter core: drives runs from state to state until blocked.

An :class:`Interpreter` lives for one API call (``advance``,
``complete_task`` ...).  It never sleeps or performs I/O: outstanding work
is reported as effects.
"""

from __future__ import annotations

import random
from typing import Any

from . import history, retry
from .dataflow import Flow
from .errors import DATA_LIMIT_EXCEEDED, QUERY_EVALUATION_ERROR, UNCATCHABLE, StatesError
from .fields import JSONPATH
from .model import ABORTED, FAILED, MAX_PAYLOAD_BYTES, RUNNING, SUCCEEDED, CancelTask, ExecutionState, iso
from .states import STATE_TYPES
from .states.distributed_map import DistributedMap

ERROR_HANDLING_TYPES = frozenset({"Task", "Parallel", "Map"})
#: Step Functions' hard quota of events in an execution's history. As the developer guide
#: ("Avoid reaching the history quota") says: once an execution has 24,999 events, event 25,000 is
#: ``ExecutionSucceeded`` if that is what comes next, else it is an ``ExecutionFailed`` (cause "The
#: execution reached the maximum number of history events (25000).") and the execution fails.
MAX_HISTORY_EVENTS = 25000


#: a run's per-state scratch data, forgotten when it leaves a state
_SCRATCH = frozenset({"task", "wake_at", "children", "map", "parallel", "retriers", "dmap"})


class HistoryLimitExceeded(Exception):
    """The execution history grew past :data:`MAX_HISTORY_EVENTS`."""


class Interpreter:
    """Drives the runs of one execution state at time ``now``."""

    #: the last state output and its JSON text (the next state's entered event carries the same)
    _last_output: tuple[Any, str] | None = None

    def __init__(self, ex: ExecutionState, now: float, rng: random.Random | None = None) -> None:
        self.ex = ex
        self.data = ex.data
        self.now = now
        #: ``now`` as history events and the context object show it (one time for the whole call)
        self.stamp = iso(now)
        self.effects: list = []
        self._rng = rng
        #: state exits left before this call yields (None: run until blocked)
        self.budget: int | None = None
        #: characters of state input and output text left before this call yields (None: no bound),
        #: so that a durable step that applies several states stores a bounded history item
        self.text_budget: int | None = None
        self.yielded = False
        #: while driving, an event that would be the last one the quota allows fails the execution
        self.guard_history = False

    @property
    def rng(self) -> random.Random:
        """The random source of retry jitter: made on first use (seeding one costs more than most
        states, and most calls never retry)."""
        if self._rng is None:
            self._rng = random.Random()
        return self._rng

    # ------------------------------------------------------------- lookups
    def machine_of(self, run: dict) -> dict:
        """The (sub) state machine definition a run executes."""
        node: Any = self.data["definition"]
        for key in run["def"]:
            node = node[key]
        return node

    def state_def(self, run: dict) -> dict:
        """Definition of the state a run is positioned at."""
        return self.machine_of(run)["States"][run["state"]]

    def query_language(self, st: dict) -> str:
        """The query language that applies to ``st``."""
        return st.get("QueryLanguage") or self.data["definition"].get("QueryLanguage") or JSONPATH

    @staticmethod
    def variables(chain: list) -> dict:
        """Variables visible from the innermost run of ``chain`` (inner shadows outer)."""
        if len(chain) == 1:  # a top-level run: its own variables (read, never changed, by the flow)
            return chain[0].get("vars") or {}
        merged: dict = {}
        for r in chain:
            merged.update(r.get("vars") or {})
        return merged

    def context(self, run: dict, *, token: str | None = None, item: dict | None = None) -> dict:
        """The context object (``$$`` / ``$states.context``)."""
        ctx = {
            "Execution": self.data["execution"],
            "StateMachine": self.data["state_machine"],
            "State": {
                "Name": run["state"],
                "EnteredTime": self.stamp
                if run.get("entered", self.now) == self.now
                else iso(run["entered"]),
                "RetryCount": run.get("retry_count", 0),
            },
        }
        if token is None and run.get("task"):
            token = run["task"].get("token") or run["task"].get("context_token")
        if token:
            ctx["Task"] = {"Token": token}
        if item is not None:
            ctx["Map"] = {"Item": item}
        return ctx

    def flow(self, run: dict, chain: list, st: dict, **ctx_kw: Any) -> Flow:
        """A :class:`Flow` for ``st`` evaluated in ``run``."""
        return Flow(st, self.query_language(st), self.context(run, **ctx_kw), self.variables(chain))

    # --------------------------------------------------------------- events
    def emit(self, run: dict | None, event_type: str, details: dict | None = None) -> int:
        """Append a history event in the thread of ``run``."""
        prev = run.get("prev") if run is not None else None
        data = self.data
        if (
            self.guard_history
            and data.get("history_base", 0) + len(data["history"]) >= MAX_HISTORY_EVENTS - 1
        ):
            raise HistoryLimitExceeded()  # event 25,000 is then the ExecutionFailed
        eid = history.append(data, event_type, self.now, details, prev, stamp=self.stamp)
        if run is not None:
            run["prev"] = eid
        return eid

    def cancel(self, task_id: str, reason: str) -> None:
        """Report that an outstanding task is abandoned."""
        self.effects.append(CancelTask(task_id, reason))

    # ---------------------------------------------------------------- drive
    def drive(self, run: dict, chain: list) -> None:
        """Progress ``run`` until it finishes or blocks."""
        data = self.data
        while run["status"] == RUNNING:
            if data.get("history_base", 0) + len(data["history"]) >= MAX_HISTORY_EVENTS - 1:
                raise HistoryLimitExceeded()
            if self.budget is not None and (
                self.budget <= 0 or (self.text_budget is not None and self.text_budget <= 0)
            ):
                self.yielded = True
                return
            if not self.step(run, chain):
                return

    def step(self, run: dict, chain: list) -> bool:
        """Do one step of ``run``; return False when it is blocked."""
        st = self.state_def(run)
        cls = STATE_TYPES[st["Type"]]
        try:
            phase = run["phase"]
            if phase == "ENTER":
                self.enter(run, st)
                run["phase"] = phase = "START"
                data = self.data
                if data.get("history_base", 0) + len(data["history"]) >= MAX_HISTORY_EVENTS - 1:
                    return True  # drive stops at the quota before the state starts
            if phase == "START":
                cls.start(self, run, chain, st)
                return True
            if phase == "RETRY_WAIT":
                if self.now < run["wake_at"]:
                    return False
                run.pop("wake_at", None)
                run["phase"] = "START"
                return True
            return cls.poll(self, run, chain, st)
        except StatesError as err:
            self.handle_error(
                run, chain, st, err.error, err.cause, by_task=err.by_task, location=err.location
            )
            return True

    def enter(self, run: dict, st: dict) -> None:
        """Emit ``<Type>StateEntered`` and reset per-entry counters."""
        run["entered"] = self.now
        run["retry_count"] = 0
        run["retriers"] = {}
        last = self._last_output
        # once: the event carries it and its size is checked; the state before dumped it already
        text = last[1] if last is not None and last[0] is run["input"] else history.dump(run["input"])
        run["entered_id"] = self.emit(run, f"{st['Type']}StateEntered", {"name": run["state"], "input": text})
        self.check_dumped(text, "state input")

    @staticmethod
    def check_size(value: Any, what: str) -> None:
        """Raise States.DataLimitExceeded for payloads over 256 KiB."""
        Interpreter.check_dumped(history.dump(value), what)

    @staticmethod
    def check_dumped(text: str, what: str) -> None:
        """:meth:`check_size` of a payload serialized already (as :func:`history.dump` does)."""
        if len(text) * 4 <= MAX_PAYLOAD_BYTES:  # no UTF-8 character takes more than 4 bytes
            return
        size = len(text.encode("utf-8"))
        if size > MAX_PAYLOAD_BYTES:
            raise StatesError(
                DATA_LIMIT_EXCEEDED,
                f"The {what} has a size of {size} bytes which exceeds the maximum of "
                f"{MAX_PAYLOAD_BYTES} bytes.",
            )

    # ------------------------------------------------------------ transitions
    def exit_state(self, run: dict, st: dict, output: Any, assigns: dict, next_name: str | None) -> None:
        """Leave the current state: apply assignments, move on or end the run."""
        last = self._last_output
        # once: the event carries it, and its size is checked; a state whose output is the very
        # value the state before it dumped (a Choice, a Pass of its input...) reuses that text, as
        # values are never changed in place (paths and data flow are pure)
        text = last[1] if last is not None and last[0] is output else history.dump(output)
        self._last_output = (output, text)  # the next state's input, unless something replaces it
        self.check_dumped(text, "state output")
        for name, value in (assigns or {}).items():
            self.check_size(value, f"variable '{name}'")
        run["vars"].update(assigns or {})
        self.emit(run, f"{st['Type']}StateExited", {"name": run["state"], "output": text})
        if self.budget is not None:
            self.budget -= 1
            if self.text_budget is not None:  # the output, and the next state's input (the same text)
                self.text_budget -= 2 * len(text)
        self.clear_state(run)
        if next_name is None:
            run["status"] = SUCCEEDED
            run["output"] = output
            return
        run["state"] = next_name
        run["input"] = output
        run["phase"] = "ENTER"

    @staticmethod
    def clear_state(run: dict) -> None:
        """Forget the per-state scratch data of a run."""
        for k in _SCRATCH.intersection(run):
            del run[k]

    @staticmethod
    def next_of(st: dict) -> str | None:
        """The ``Next`` of a state, or None when it is an End state."""
        return None if st.get("End") else st.get("Next")

    def finish_with_result(self, run: dict, chain: list, st: dict, result: Any) -> None:
        """Apply result processing to ``result`` and exit the state."""
        flow = self.flow(run, chain, st)
        output, assigns = flow.finish(run["input"], result)
        self.exit_state(run, st, output, assigns, self.next_of(st))

    # ---------------------------------------------------------------- errors
    def handle_error(
        self,
        run: dict,
        chain: list,
        st: dict,
        error: str,
        cause: str,
        *,
        by_task: bool = False,
        location: str | None = None,
    ) -> None:
        """Route an error through Retry, then Catch, else fail the run."""
        if st["Type"] in ERROR_HANDLING_TYPES and error not in UNCATCHABLE:
            idx = retry.find_retrier(st.get("Retry"), error, by_task=by_task)
            if idx is not None:
                counts = run.setdefault("retriers", {})
                done = counts.get(str(idx), 0)
                delay = retry.retry_delay(st["Retry"][idx], done, self.rng)
                if delay is not None:
                    self.abandon_children(run, "retrying")
                    counts[str(idx)] = done + 1
                    run["retry_count"] = run.get("retry_count", 0) + 1
                    run["wake_at"] = self.now + delay
                    run["phase"] = "RETRY_WAIT"
                    run.pop("task", None)
                    return
            cidx = retry.find_catcher(st.get("Catch"), error, by_task=by_task)
            if cidx is not None:
                catcher = st["Catch"][cidx]
                err_out = retry.error_output(error, cause)
                self.abandon_children(run, "caught")
                try:
                    output, assigns = self.flow(run, chain, st).catch_output(catcher, run["input"], err_out)
                    self.exit_state(run, st, output, assigns, catcher["Next"])
                except StatesError as err2:
                    self.fail_run(run, err2.error, err2.cause)
                return
        self.abandon_children(run, "state failed")
        if error == QUERY_EVALUATION_ERROR:
            cause = self.evaluation_failed(run, cause, location)
        self.fail_run(run, error, cause)

    def evaluation_failed(self, run: dict, cause: str, location: str | None) -> str:
        """Emit AWS's ``EvaluationFailed`` event for an uncaught States.QueryEvaluationError and
        return the cause as AWS words it ("An error occurred while executing the state ...")."""
        cause = (
            f"An error occurred while executing the state '{run['state']}' "
            f"(entered at the event id #{run.get('entered_id', 0)}). {cause}"
        )
        details = {"cause": cause, "error": QUERY_EVALUATION_ERROR, "state": run["state"]}
        if location:
            details["location"] = location
        self.emit(run, "EvaluationFailed", details)
        return cause

    def fail_run(self, run: dict, error: str | None, cause: str | None) -> None:
        """Mark ``run`` FAILED, keeping its position for a later redrive."""
        run["status"] = FAILED
        run["error"] = error
        run["cause"] = cause
        task = run.get("task")
        if task and "outcome" not in task:
            self.cancel(task["task_id"], "state failed")

    def abandon_children(self, run: dict, reason: str) -> None:
        """Abort every running child run (and cancel their tasks) and stop child executions."""
        if run.get("dmap"):
            DistributedMap.stop_children(self, run, reason)
        for child in run.get("children") or []:
            if child.get("status") == RUNNING:
                self.abort_run(child, reason)

    def abort_run(self, run: dict, reason: str) -> None:
        """Abort ``run`` and its descendants."""
        task = run.get("task")
        if run.get("phase") == "TASK_RUNNING" and task and "outcome" not in task:
            self.cancel(task["task_id"], reason)
        if run.get("dmap"):
            DistributedMap.stop_children(self, run, reason)
        for child in run.get("children") or []:
            if child.get("status") == RUNNING:
                self.abort_run(child, reason)
        run["status"] = ABORTED
        run["error"] = "States.Aborted"
        run["cause"] = reason

    # --------------------------------------------------------------- timers
    def next_wakeup(self) -> float | None:
        """Earliest time at which ``advance`` has timed work to do."""
        times = []
        if self.data.get("timeout_at") is not None:
            times.append(self.data["timeout_at"])
        for run in self.ex.runs():
            if run.get("status") != RUNNING:
                continue
            if run.get("phase") in ("RETRY_WAIT", "WAIT") and run.get("wake_at") is not None:
                times.append(run["wake_at"])
            task = run.get("task")
            if run.get("phase") == "TASK_RUNNING" and task and "outcome" not in task:
                for k in ("timeout_at", "heartbeat_at"):
                    if task.get(k) is not None:
                        times.append(task[k])
        return min(times) if times else None
