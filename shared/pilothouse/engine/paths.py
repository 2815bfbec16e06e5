"""JSONPath-mode data flow: InputPath, payload templates, ResultPath, OutputPath.

All functions are pure: they never mutate their arguments.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from . import intrinsics, jsonpath
from .errors import RESULT_PATH_MATCH_FAILURE, StatesError, runtime


@dataclass
class Env:
    """What a path can see besides ``$``: the context object and variables."""

    context: Any = None
    variables: dict = field(default_factory=dict)


def _short(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= 200 else text[:197] + "..."


def resolve(path: str, data: Any, env: Env, what: str = "path") -> Any:
    """Evaluate a path (``$``, ``$$`` or ``$var``); missing → States.Runtime."""
    try:
        return jsonpath.evaluate(path, data, context=env.context, variables=env.variables)
    except jsonpath.PathNotFound:
        raise runtime(
            f"Invalid {what}: the JSONPath '{path}' could not be found in the input '{_short(data)}'"
        ) from None
    except jsonpath.JsonPathSyntaxError as exc:
        raise runtime(f"Invalid {what}: {exc}") from None


def apply_input_path(data: Any, path: Any, env: Env) -> Any:
    """Apply ``InputPath``: absent → all of ``data``; ``null`` → ``{}``."""
    if path is None:
        return {}
    if path == "$":  # the default: all of ``data`` (what evaluating ``$`` gives, without the walk)
        return data
    return resolve(path, data, env, "InputPath")


def apply_output_path(data: Any, path: Any, env: Env) -> Any:
    """Apply ``OutputPath``: absent → all of ``data``; ``null`` → ``{}``."""
    if path is None:
        return {}
    if path == "$":  # the default: all of ``data`` (what evaluating ``$`` gives, without the walk)
        return data
    return resolve(path, data, env, "OutputPath")


def apply_template(template: Any, data: Any, env: Env, field_name: str = "Parameters") -> Any:
    """Evaluate a payload template (Parameters, ResultSelector, ItemSelector...).

    Keys ending in ``.$`` have their value replaced by the result of the
    path or intrinsic function it holds; the suffix is dropped.
    """
    if isinstance(template, dict):
        out: dict = {}
        for key, value in template.items():
            if key.endswith(".$"):
                out[key[:-2]] = evaluate_dynamic(value, data, env, f"{field_name} field '{key}'")
            else:
                out[key] = apply_template(value, data, env, field_name)
        return out
    if isinstance(template, list):
        return [apply_template(v, data, env, field_name) for v in template]
    return copy_json(template)


def evaluate_dynamic(expr: Any, data: Any, env: Env, what: str = "value") -> Any:
    """Evaluate the value of a ``.$`` key: a path or an intrinsic function."""
    if not isinstance(expr, str):
        raise runtime(f"{what}: the value must be a JSONPath or an intrinsic function")
    if intrinsics.looks_like_intrinsic(expr):
        try:
            return intrinsics.evaluate(expr, data, context=env.context, variables=env.variables)
        except intrinsics.IntrinsicSyntaxError as exc:
            raise StatesError("States.IntrinsicFailure", str(exc)) from None
    return copy_json(resolve(expr, data, env, what))


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON value (objects and arrays copied, scalars shared as they cannot change);
    what ``copy.deepcopy`` does for such data at a fraction of its cost. Anything else is deep-copied."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return copy.deepcopy(value)


def apply_result_path(state_input: Any, result: Any, path: Any) -> Any:
    """Combine ``result`` into ``state_input`` according to ``ResultPath``.

    Absent (``"$"``) → the result; ``null`` → the input unchanged;
    otherwise the result is written at the reference path, creating
    intermediate objects.  Writing through a non-object raises
    ``States.ResultPathMatchFailure``.
    """
    if path is None:
        return state_input
    if path == "$":
        return result
    try:
        compiled = jsonpath.compile_path(path)
    except jsonpath.JsonPathSyntaxError as exc:
        raise StatesError(RESULT_PATH_MATCH_FAILURE, str(exc)) from None
    if compiled.root != "$" or not compiled.definite:
        raise StatesError(RESULT_PATH_MATCH_FAILURE, f"ResultPath '{path}' is not a reference path")
    doc = copy_json(state_input)

    def failure() -> StatesError:  # made only when it is raised: its text serializes the input
        return StatesError(
            RESULT_PATH_MATCH_FAILURE,
            f"Unable to apply ResultPath '{path}' to input '{_short(state_input)}'",
        )

    if not isinstance(doc, (dict, list)):
        raise failure()
    node = doc
    steps = compiled.steps
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if step.kind == "field":
            if not isinstance(node, dict):
                raise failure()
            if last:
                node[step.arg] = result
            else:
                if step.arg not in node or node[step.arg] is None:
                    node[step.arg] = {}
                node = node[step.arg]
        else:  # index
            if not isinstance(node, list) or not -len(node) <= step.arg < len(node):
                raise failure()
            if last:
                node[step.arg] = result
            else:
                node = node[step.arg]
    return doc


def payload_size(value: Any) -> int:
    """Size in bytes of ``value`` serialized as UTF-8 JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
