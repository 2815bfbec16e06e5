"""``TestState``: one state run on its own, in memory, on a virtual clock (nothing is stored).

The state (``definition`` is the state, or a whole state machine with ``stateName``) runs as the
start of a small machine whose other states are placeholders for where it goes next, so the answer
can say ``nextState``. As Step Functions' TestState does, retries are not run: an error a
``Retry`` would retry answers ``RETRIABLE``, one a ``Catch`` catches answers ``CAUGHT_ERROR`` with
the catcher's ``Next``. A Task state needs ``mock`` (``result`` or ``errorOutput``): this endpoint
does not call services from a test.
"""

from __future__ import annotations

import json
from typing import Any

from pilothouse.api.sfn_params import _enum, _json, _need, _object, _str
from pilothouse.api.sfn_protocol import Request, SfnError

PLACEHOLDER = {"Type": "Pass", "End": True}


def _targets(state: dict[str, Any]) -> list[str]:
    names = [state.get("Next"), state.get("Default")]
    names += [c.get("Next") for c in state.get("Choices") or [] if isinstance(c, dict)]
    names += [c.get("Next") for c in state.get("Catch") or [] if isinstance(c, dict)]
    return [n for n in names if isinstance(n, str)]


def _retarget(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """``state`` with its transitions to ``old`` sent to ``new`` (a state that goes to itself)."""
    out = dict(state)
    for key in ("Next", "Default"):
        if out.get(key) == old:
            out[key] = new
    for key in ("Choices", "Catch"):
        if isinstance(out.get(key), list):
            out[key] = [
                {**c, "Next": new} if isinstance(c, dict) and c.get("Next") == old else c for c in out[key]
            ]
    return out


def _matches(error: str, equals: list[Any]) -> bool:
    return any(e == error or (e == "States.ALL" and not error.startswith("States.Runtime")) for e in equals)


def test_state(req: Request) -> dict[str, Any]:
    from pilothouse import engine

    p = req.params
    given = _json(_need(p, "definition", max_len=1024 * 1024), "InvalidDefinition", "definition")
    if not isinstance(given, dict):
        raise SfnError("InvalidDefinition", "Invalid State Machine Definition: the state must be an object")
    name = _str(p, "stateName", max_len=80)
    top: dict[str, Any] = {}
    if isinstance(given.get("States"), dict):
        name = name or given.get("StartAt")
        if not isinstance(name, str) or not isinstance(given["States"].get(name), dict):
            raise SfnError("InvalidDefinition", "Invalid State Machine Definition: stateName names no state")
        state = dict(given["States"][name])
        top = {k: v for k, v in given.items() if k == "QueryLanguage"}
    else:
        name, state = name or "TestState", dict(given)
    text = _str(p, "input", max_len=256 * 1024)
    payload = _json(text, "InvalidExecutionInput", "input") if text is not None else {}
    mock = _object(p, "mock")
    level = _enum(p, "inspectionLevel", ("INFO", "DEBUG", "TRACE"), "INFO")
    retriers = state.pop("Retry", None) or []
    given_catch = [c for c in state.get("Catch") or [] if isinstance(c, dict)]
    if state.get("Type") == "Task" and not mock:
        raise SfnError(
            "ValidationException", "TestState runs a Task state here only with a mock (result or errorOutput)"
        )
    itself = f"{name[:60]} (again)"  # where a state that goes to itself goes, named apart
    if name in _targets(state):
        state = _retarget(state, name, itself)
    states = {name: state}
    for target in _targets(state):
        states.setdefault(target, dict(PLACEHOLDER))
    definition = {**top, "StartAt": name, "States": states}

    def invoke(resource: str, args: Any, ctx: Any) -> Any:
        if not mock:
            raise engine.TaskFailure("States.Runtime", "TestState calls no service; give a mock")
        if mock.get("errorOutput") is not None:
            out = mock["errorOutput"] or {}
            raise engine.TaskFailure(str(out.get("error", "States.TaskFailed")), str(out.get("cause", "")))
        result = mock.get("result")
        return json.loads(result) if isinstance(result, str) else result

    try:
        result = engine.run(
            definition,
            payload,
            invoke=invoke,
            clock=engine.VirtualClock(),
            execution_name="TestState",
            max_steps=1000,
        )
    except engine.DefinitionError as exc:
        raise SfnError("InvalidDefinition", f"Invalid State Machine Definition: '{exc}'") from None
    entered = [e for e in result.history if str(e.get("type", "")).endswith("StateEntered")]
    next_state = entered[1]["stateEnteredEventDetails"]["name"] if len(entered) > 1 else None
    if next_state == itself:
        next_state = name
    out: dict[str, Any] = {}
    if level != "INFO":
        out["inspectionData"] = {"input": json.dumps(payload)}
    if result.status == "SUCCEEDED":
        failed = any(
            str(e.get("type", "")).endswith("Failed") for e in result.history[: len(result.history) - 1]
        )
        caught = failed and next_state in [c.get("Next") for c in given_catch]
        out.update(status="CAUGHT_ERROR" if caught else "SUCCEEDED", output=json.dumps(result.output))
        if caught:
            failure: dict[str, Any] = next(
                (e for e in reversed(result.history) if str(e.get("type", "")).endswith("Failed")), {}
            )
            details: Any = next((v for k, v in failure.items() if k.endswith("EventDetails")), {})
            out.update(
                {k: details[k] for k in ("error", "cause") if isinstance(details, dict) and k in details}
            )
        if next_state:
            out["nextState"] = next_state
        return out
    error, cause = result.error or "States.Runtime", result.cause or ""
    retriable = any(isinstance(r, dict) and _matches(error, r.get("ErrorEquals") or []) for r in retriers)
    out.update(status="RETRIABLE" if retriable else "FAILED", error=error, cause=cause)
    return out
