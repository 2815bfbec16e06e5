"""Synchronous convenience runner (what ``pilothouse workflow run`` uses).

It loops ``advance`` / ``complete_task`` in-process, calling ``invoke``
for every task and fast-forwarding a virtual clock through Wait states,
retry back-offs and timeouts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import api
from .clock import as_clock
from .model import RUNNING, CancelTask, ExecutionState, InvokeTask, ResumeAt, StartChild, iso
from .s3io import S3CallFailed, is_internal, perform


class _Pending:
    def __repr__(self) -> str:
        return "PENDING"


#: Returned by an invoker (or a callbacks function) meaning "no answer yet".
PENDING = _Pending()


class TaskFailure(Exception):
    """Raise from an invoker to fail a task with a given error name and cause."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@dataclass(frozen=True)
class InvokeContext:
    """What an invoker learns about the task it runs."""

    state_name: str
    retry_count: int
    task_id: str
    token: str | None
    execution_name: str
    execution_id: str
    resource: str
    timeout_at: float | None = None
    heartbeat_at: float | None = None


@dataclass
class RunResult:
    """Outcome of :func:`run`."""

    status: str
    output: Any
    error: str | None
    cause: str | None
    history: list
    state: ExecutionState = field(repr=False)
    #: the child executions of Distributed Map states, by name (each with its own history)
    children: dict = field(default_factory=dict, repr=False)
    start_date: str | None = None
    stop_date: str | None = None


Invoker = Callable[[str, Any, InvokeContext], Any]


def _answer(ex: ExecutionState, task_id: str, answer: Any, now: float) -> None:
    if (
        isinstance(answer, dict)
        and ("error" in answer or "output" in answer)
        and set(answer) <= {"output", "error", "cause"}
    ):
        if answer.get("error") is not None:
            api.complete_task(ex, task_id, error=answer["error"], cause=answer.get("cause"), now=now)
        else:
            api.complete_task(ex, task_id, answer.get("output"), now=now)
    else:
        api.complete_task(ex, task_id, answer, now=now)


def run(
    definition: Any,
    input: Any = None,
    *,
    invoke: Invoker,
    clock: Any = None,
    callbacks: Callable[[str], Any] | None = None,
    execution_name: str | None = None,
    state_machine_name: str = "StateMachine",
    max_steps: int = 1_000_000,
    callback_polls: int = 100,
    blobs: Any = None,
    execution_arn: str | None = None,
    state_machine_arn: str | None = None,
) -> RunResult:
    """Run an execution to completion on a (virtual) clock.

    ``invoke(resource, payload, context)`` returns the task result, raises
    :class:`TaskFailure` (or any exception: error = its class name) or
    returns :data:`PENDING` for ``.waitForTaskToken`` tasks answered later:
    the runner then asks ``callbacks(token)``, which returns the result,
    ``{"output": ...}``, ``{"error": ..., "cause": ...}`` or ``PENDING``.
    With nothing left to do but wait, the clock jumps to the next timer;
    if there is none, ``callbacks`` is asked again (up to ``callback_polls``
    fruitless rounds) before the execution is stopped as deadlocked.

    A Distributed Map's S3 calls (ItemReader, ResultWriter) go to ``blobs`` (anything with the
    blobs port's ``get``/``put``/``list``; without it, to ``invoke``) and its child executions run
    here one after the other; they are in :attr:`RunResult.children`.
    """
    clock = as_clock(clock)
    ex = api.start(
        definition,
        input,
        execution_name=execution_name,
        execution_arn=execution_arn,
        now=clock.now(),
        state_machine_name=state_machine_name,
        state_machine_arn=state_machine_arn,
    )
    children: dict = {}
    start_date = iso(clock.now())
    queue: deque = deque()
    waiting: dict = {}
    steps = 0
    fruitless = 0
    while True:
        steps += 1
        if steps > max_steps:
            api.stop(ex, "Runner.StepLimit", f"more than {max_steps} runner steps", now=clock.now())
        ex, effects = api.advance(ex, clock.now())
        wake = None
        ran_children = False
        for effect in effects:
            if isinstance(effect, InvokeTask):
                queue.append(effect)
            elif isinstance(effect, CancelTask):
                waiting = {t: tid for t, tid in waiting.items() if tid != effect.task_id}
            elif isinstance(effect, ResumeAt):
                wake = effect.time
            elif isinstance(effect, StartChild):
                _run_child(ex, effect, children, invoke, clock, callbacks, blobs)
                ran_children = True
        if ex.status != RUNNING:
            break
        if ran_children:
            continue
        if queue:
            _invoke(ex, queue.popleft(), invoke, waiting, clock, blobs)
            continue
        if waiting and callbacks is not None and _poll_callbacks(ex, waiting, callbacks, clock):
            fruitless = 0
            continue
        if wake is not None:
            clock.set(wake)
            continue
        fruitless += 1
        if waiting and callbacks is not None and fruitless < callback_polls:
            continue
        api.stop(
            ex, "Runner.Deadlock", "the execution is waiting for a callback that never came", now=clock.now()
        )
    return RunResult(
        ex.status, ex.output, ex.error, ex.cause, ex.history, ex, children, start_date, iso(clock.now())
    )


def _run_child(
    ex: ExecutionState,
    effect: StartChild,
    children: dict,
    invoke: Invoker,
    clock: Any,
    callbacks: Callable[[str], Any] | None,
    blobs: Any,
) -> None:
    """Run a Distributed Map's child execution to its end and report it to the parent."""
    if effect.name not in children:
        child = run(
            effect.definition,
            effect.input,
            invoke=invoke,
            clock=clock,
            callbacks=callbacks,
            execution_name=effect.name,
            execution_arn=effect.arn,
            state_machine_name=effect.state_machine_arn.rsplit(":", 1)[-1],
            state_machine_arn=effect.state_machine_arn,
            blobs=blobs,
        )
        children[effect.name] = child
        children.update(child.children)
    child = children[effect.name]
    api.complete_child(
        ex,
        effect.map_run,
        effect.index,
        child.status,
        child.output,
        error=child.error,
        cause=child.cause,
        start_date=child.start_date,
        stop_date=child.stop_date,
    )


def _invoke(
    ex: ExecutionState, effect: InvokeTask, invoke: Invoker, waiting: dict, clock: Any, blobs: Any = None
) -> None:
    outstanding = {t["task_id"]: t for t in ex.outstanding_tasks()}
    if effect.task_id not in outstanding:
        return
    if blobs is not None and outstanding[effect.task_id].get("internal") and is_internal(effect.resource):
        try:
            result = perform(blobs, effect.resource, effect.payload)
        except S3CallFailed as failure:
            api.complete_task(ex, effect.task_id, error=failure.error, cause=failure.cause, now=clock.now())
            return
        api.complete_task(ex, effect.task_id, result, now=clock.now())
        return
    ctx = InvokeContext(
        effect.state_name,
        effect.retry_count,
        effect.task_id,
        effect.token,
        ex.data["execution"]["Name"],
        ex.data["execution"]["Id"],
        effect.resource,
        effect.timeout_at,
        effect.heartbeat_at,
    )
    try:
        result = invoke(effect.resource, effect.payload, ctx)
    except TaskFailure as failure:
        api.complete_task(ex, effect.task_id, error=failure.error, cause=failure.cause, now=clock.now())
        return
    except Exception as exc:  # an invoker bug or a task raising: report as the task's error
        api.complete_task(ex, effect.task_id, error=type(exc).__name__, cause=str(exc), now=clock.now())
        return
    if result is PENDING:
        waiting[effect.token or effect.task_id] = effect.task_id
        return
    api.complete_task(ex, effect.task_id, result, now=clock.now())


def _poll_callbacks(ex: ExecutionState, waiting: dict, callbacks: Callable, clock: Any) -> bool:
    progressed = False
    for token, task_id in list(waiting.items()):
        try:
            answer = callbacks(token)
        except TaskFailure as failure:
            del waiting[token]
            api.complete_task(ex, task_id, error=failure.error, cause=failure.cause, now=clock.now())
            progressed = True
            continue
        if answer is PENDING or answer is None:
            continue
        del waiting[token]
        _answer(ex, task_id, answer, clock.now())
        progressed = True
    return progressed
