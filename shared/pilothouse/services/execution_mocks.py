"""Task states answered from a Step Functions Local mock configuration (``SFN_MOCK_CONFIG``).

An execution started as ``<stateMachineArn>#<TestCase>`` records its test case (``mock_case``);
each of its Task states is then answered from the case's mocked response instead of being invoked,
as Step Functions Local does: invocations of a state count from 0 (retries and Map iterations
included) and pick the response's ``"0"``, ``"1-2"``... entry, the last one past the end. The
count is durable: the execution record lists, per state, the tasks that invoked it, so a
redelivered task message gets the same answer again. A state the case does not mock fails with
``Pilothouse.MockNotFound``. The file format is the engine's (:mod:`pilothouse.engine.mocks`).
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pilothouse.errors import ValidationFailed, VersionConflict
from pilothouse.ports import Item
from pilothouse.repositories.workflows import RECORD_SK, execution_pk
from pilothouse.services.context import ServiceContext

ATTEMPTS = 20


class MockedFailure(Exception):
    """A mocked ``Throw``: the task fails with this error and cause, as given."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict[str, Any]:
    from pilothouse.jsonbounds import loads

    data = loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("a mock configuration is a JSON object")
    return data


def config(services: ServiceContext) -> dict[str, Any]:
    """The mock configuration of the setting ``sfn_mock_config`` (ValidationFailed if none)."""
    path = services.settings.sfn_mock_config
    if path is None:
        raise ValidationFailed.field(
            "stateMachineArn", "a #TestCase needs a mock configuration (SFN_MOCK_CONFIG); none is set"
        )
    try:
        return _load(str(path), os.stat(path).st_mtime)
    except (OSError, ValueError) as exc:
        raise ValidationFailed.field(
            "stateMachineArn", f"the mock configuration cannot be read: {exc}"
        ) from None


def check_case(services: ServiceContext, workflow: str, case: str) -> None:
    """ValidationFailed unless the configuration has test case ``case`` for ``workflow``, with every
    state mapped to a response it defines."""
    from pilothouse.engine.mocks import _compile_response

    cfg = config(services)
    try:
        states = cfg["StateMachines"][workflow]["TestCases"][case]
    except (KeyError, TypeError):
        raise ValidationFailed.field(
            "stateMachineArn",
            f"the mock configuration has no test case {case!r} for state machine {workflow!r}",
        ) from None
    responses = cfg.get("MockedResponses") or {}
    for state, response in (states or {}).items():
        if response not in responses:
            raise ValidationFailed.field(
                "stateMachineArn", f"test case {case!r} maps state {state!r} to unknown response {response!r}"
            )
        try:
            _compile_response(response, responses[response])
        except ValueError as exc:
            raise ValidationFailed.field("stateMachineArn", str(exc)) from None


def _invocation(services: ServiceContext, execution: dict, state: str, task_id: str) -> int:
    """Which invocation of ``state`` task ``task_id`` is (0-based), recorded once on the execution."""
    for _ in range(ATTEMPTS):
        item = services.store.get(execution_pk(execution["workflow"], execution["name"]), RECORD_SK)
        if item is None:
            return 0
        calls = {k: list(v) for k, v in (item.data.get("mock_calls") or {}).items()}
        seen = calls.setdefault(state, [])
        if task_id in seen:
            return seen.index(task_id)
        seen.append(task_id)
        try:
            services.store.put(
                Item(item.pk, item.sk, {**item.data, "mock_calls": calls}), if_version=item.version
            )
        except VersionConflict:
            continue
        return len(seen) - 1
    raise MockedFailure("States.Runtime", "the execution kept changing while counting a mocked invocation")


def answer(services: ServiceContext, execution: dict, task: dict) -> Any:
    """The mocked result of ``task`` (its ``Return``), or :class:`MockedFailure` (its ``Throw``, or
    ``Pilothouse.MockNotFound`` for a state the case does not mock)."""
    from pilothouse.engine.mocks import MOCK_NOT_FOUND, _compile_response, _pick

    case = execution["mock_case"]
    state = task.get("state_name") or ""
    try:
        cfg = config(services)
        response = cfg["StateMachines"][execution["workflow"]]["TestCases"][case].get(state)
        spec = (cfg.get("MockedResponses") or {}).get(response) if response else None
        ranges = _compile_response(response, spec) if spec is not None else None
    except (ValidationFailed, KeyError, TypeError, ValueError) as exc:
        raise MockedFailure(MOCK_NOT_FOUND, f"the mock configuration no longer answers: {exc}") from None
    if ranges is None:
        raise MockedFailure(MOCK_NOT_FOUND, f"no mocked response for state {state!r} in test case {case!r}")
    picked = _pick(ranges, _invocation(services, execution, state, task["task_id"]))
    if "Throw" in picked:
        throw = picked["Throw"] or {}
        raise MockedFailure(str(throw.get("Error", "States.TaskFailed")), str(throw.get("Cause", "")))
    return copy.deepcopy(picked["Return"])
