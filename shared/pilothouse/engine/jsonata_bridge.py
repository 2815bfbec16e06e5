"""Evaluation of ``{% ... %}`` JSONata expressions for JSONata states.

The ``jsonata`` package (jsonata-python) is imported lazily on first use.
Expressions see ``$states`` (input, result, errorOutput, context) and the
workflow variables; Step Functions' extra functions ``$partition``,
``$range``, ``$hash``, ``$random``, ``$uuid`` and ``$parse`` are registered.
Any evaluation problem raises ``States.QueryEvaluationError``.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import uuid
from typing import Any

from .errors import QUERY_EVALUATION_ERROR, StatesError

_CACHE: dict = {}


def is_expression(value: Any) -> bool:
    """Return True for a string that is entirely one ``{% ... %}`` expression."""
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}") and len(value) >= 4


def expression_body(value: str) -> str:
    """Strip the ``{%`` / ``%}`` delimiters."""
    return value[2:-2].strip()


def _fail(msg: str) -> StatesError:
    return StatesError(QUERY_EVALUATION_ERROR, msg)


def _partition(arr: Any, size: Any) -> list:
    if not isinstance(arr, list):
        arr = [arr]
    if not isinstance(size, (int, float)) or isinstance(size, bool) or size < 1 or int(size) != size:
        raise _fail("$partition: size must be a positive integer")
    n = int(size)
    return [arr[i : i + n] for i in range(0, len(arr), n)]


#: the most numbers ``$range`` makes (a guard of this engine: far more than fits in a payload)
MAX_RANGE = 1_000_000


def _range(start: Any, end: Any, step: Any = 1) -> list:
    if any(
        not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or int(v) != v
        for v in (start, end, step)
    ):
        raise _fail("$range: arguments must be integers")
    if step == 0:
        raise _fail("$range: step must not be 0")
    s, e, st = int(start), int(end), int(step)
    numbers = range(s, e + (1 if st > 0 else -1), st)
    if len(numbers) > MAX_RANGE:
        raise _fail(f"$range: more than {MAX_RANGE} numbers")
    return _sequence(numbers)


def _sequence(items: Any) -> list:
    """A JSONata *sequence*: as in JSONata, one of a single element stands for the element
    (``$range(1, 1)`` is ``1``), an empty one for undefined."""
    from jsonata.utils import Utils

    return Utils.create_sequence_from_iter(items)


_ALGOS = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(data: Any, algorithm: Any = "SHA-256") -> str:
    if not isinstance(data, str):
        raise _fail("$hash: data must be a string")
    if algorithm not in _ALGOS:
        raise _fail(f"$hash: algorithm must be one of {', '.join(_ALGOS)}")
    return hashlib.new(_ALGOS[algorithm], data.encode("utf-8")).hexdigest()


def _random(seed: Any = None) -> float:
    return random.Random(seed).random() if seed is not None else random.random()


def _parse(text: Any) -> Any:
    if not isinstance(text, str):
        raise _fail("$parse: argument must be a string")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _fail(f"$parse: invalid JSON: {exc}") from None


def _compile(body: str) -> Any:
    expr = _CACHE.get(body)
    if expr is None:
        import jsonata  # lazy: keep the engine import cheap

        try:
            expr = jsonata.Jsonata(body)
        except Exception as exc:  # jsonata raises JException subclasses
            raise _fail(f"JSONata syntax error in '{body}': {exc}") from None
        expr.register_lambda("partition", _partition)
        expr.register_lambda("range", _range)
        expr.register_lambda("hash", lambda d, a="SHA-256": _hash(d, a))
        expr.register_lambda("random", lambda s=None: _random(s))
        expr.register_lambda("uuid", lambda: str(uuid.uuid4()))
        expr.register_lambda("parse", _parse)
        # keep JSONata's null apart from undefined: an expression that returns nothing is an error
        expr.set_output_convert_nulls(False)
        if len(_CACHE) > 2048:
            _CACHE.clear()
        _CACHE[body] = expr
    return expr


def check_syntax(value: str) -> str | None:
    """Return an error message when ``{% ... %}`` does not compile, else None."""
    try:
        _compile(expression_body(value))
    except StatesError as exc:
        return exc.cause
    return None


def evaluate(value: str, states: dict, variables: dict | None = None, field: str = "") -> Any:
    """Evaluate one ``{% ... %}`` string of the field ``field`` (``Output/result``).

    As on AWS, an expression that returns nothing (JSONata's *undefined*: an unknown variable, a
    missing field) fails with States.QueryEvaluationError; JSONata's ``null`` is JSON null.
    """
    from jsonata.utils import Utils

    body = expression_body(value)
    expr = _compile(body)
    # a variable holding JSON null is null to JSONata (Python None would read as undefined)
    bindings = {k: Utils.NULL_VALUE if v is None else v for k, v in (variables or {}).items()}
    bindings["states"] = states
    where = f" specified for the field '{field}'" if field else ""
    try:
        data = states.get("input")
        result = expr.evaluate(Utils.NULL_VALUE if data is None else data, bindings)
        if result is None:
            raise _fail(f"The JSONata expression '{body}'{where} returned nothing (undefined).")
        return _plain(Utils.convert_nulls(result))
    except StatesError as exc:
        exc.location = exc.location or field or None
        raise
    except Exception as exc:
        raise StatesError(
            QUERY_EVALUATION_ERROR,
            f"The JSONata expression '{body}'{where} threw an error during evaluation. {exc}",
            location=field or None,
        ) from None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    # a function (a lambda, a built-in) or anything else that is no JSON value: AWS answers
    # "returned an unsupported result type"
    raise _fail("The expression returned an unsupported result type (a function is not a JSON value)")


def evaluate_template(value: Any, states: dict, variables: dict | None = None, field: str = "") -> Any:
    """Evaluate a JSONata-mode field: every ``{% %}`` string inside is replaced (``field`` names
    where, as AWS does in its errors: ``Arguments/FunctionName``)."""
    if is_expression(value):
        return evaluate(value, states, variables, field)
    if isinstance(value, dict):
        return {
            k: evaluate_template(v, states, variables, f"{field}/{k}" if field else k)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            evaluate_template(v, states, variables, f"{field}/{i}" if field else str(i))
            for i, v in enumerate(value)
        ]
    return value
