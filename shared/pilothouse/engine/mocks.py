"""Invokers answering from AWS Step Functions Local mock configuration files.

Format::

    {"StateMachines": {"<machine>": {"TestCases": {"<case>": {"<state>": "<response>"}}}},
     "MockedResponses": {"<response>": {"0": {"Return": {...}},
                                         "1-2": {"Throw": {"Error": "...", "Cause": "..."}}}}}

Invocations of a state are counted from 0 (retries and Map iterations
included); a key ``"1-2"`` covers invocations 1 and 2.  Past the last
defined invocation the last response is reused.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from typing import Any

from .runner import InvokeContext, TaskFailure

MOCK_NOT_FOUND = "Pilothouse.MockNotFound"


def load_config(config: Any) -> dict:
    """Accept a dict, JSON text or a path to a JSON file."""
    if isinstance(config, dict):
        return config
    if isinstance(config, (str, os.PathLike)) and os.path.exists(config):
        with open(config, encoding="utf-8") as fh:
            return json.load(fh)
    if isinstance(config, str):
        return json.loads(config)
    raise TypeError("mock config must be a dict, JSON text or a file path")


def _parse_key(key: str) -> tuple:
    if "-" in key:
        lo, hi = key.split("-", 1)
        return int(lo), int(hi)
    return int(key), int(key)


def _compile_response(name: str, spec: Any) -> list:
    if not isinstance(spec, dict) or not spec:
        raise ValueError(f"mocked response '{name}' must be a non-empty object")
    ranges = []
    for key, answer in spec.items():
        try:
            lo, hi = _parse_key(key)
        except ValueError:
            raise ValueError(f"mocked response '{name}': bad invocation key '{key}'") from None
        if not isinstance(answer, dict) or len({"Return", "Throw"} & set(answer)) != 1:
            raise ValueError(f"mocked response '{name}' key '{key}' needs exactly one of Return or Throw")
        ranges.append((lo, hi, answer))
    ranges.sort(key=lambda r: r[0])
    return ranges


def _pick(ranges: list, n: int) -> dict:
    for lo, hi, answer in ranges:
        if lo <= n <= hi:
            return answer
    return ranges[-1][2]


def mock_invoker(
    config: Any,
    state_machine_name: str,
    test_case: str,
    fallback: Callable[[str, Any, InvokeContext], Any] | None = None,
) -> Callable:
    """Return an invoker for :func:`~pilothouse.engine.runner.run` answering from mocks.

    States without a mock are passed to ``fallback`` when given, otherwise
    they fail with ``Pilothouse.MockNotFound``.
    """
    cfg = load_config(config)
    try:
        case = cfg["StateMachines"][state_machine_name]["TestCases"][test_case]
    except KeyError:
        raise ValueError(
            f"no test case '{test_case}' for state machine '{state_machine_name}' in the mock config"
        ) from None
    responses = cfg.get("MockedResponses", {})
    compiled = {}
    for state, response_name in case.items():
        if response_name not in responses:
            raise ValueError(
                f"test case '{test_case}' maps state '{state}' to unknown response '{response_name}'"
            )
        compiled[state] = _compile_response(response_name, responses[response_name])
    counts: dict = {}

    def invoke(resource: str, payload: Any, ctx: InvokeContext) -> Any:
        name = ctx.state_name
        if name not in compiled:
            if fallback is not None:
                return fallback(resource, payload, ctx)
            raise TaskFailure(
                MOCK_NOT_FOUND, f"no mocked response for state '{name}' in test case '{test_case}'"
            )
        n = counts.get(name, 0)
        counts[name] = n + 1
        answer = _pick(compiled[name], n)
        if "Throw" in answer:
            throw = answer["Throw"] or {}
            raise TaskFailure(throw.get("Error", "States.TaskFailed"), throw.get("Cause", ""))
        return copy.deepcopy(answer["Return"])

    invoke.counts = counts  # type: ignore[attr-defined]
    return invoke
