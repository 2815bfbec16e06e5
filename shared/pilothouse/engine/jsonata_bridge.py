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


_STRICT_ROOT: Any = None


def _strict_root() -> Any:
    """The outermost frame of every compiled expression: it answers JSONata's built-in functions
    and raises States.QueryEvaluationError for a variable nothing binds, as Step Functions does
    (plain JSONata would yield undefined)."""
    global _STRICT_ROOT
    if _STRICT_ROOT is None:
        from jsonata import Jsonata

        class StrictRoot(Jsonata.Frame):
            def lookup(self, name: str) -> Any:
                builtins = Jsonata.static_frame.bindings
                if name in builtins:
                    return builtins[name]
                if name.startswith("__"):  # the evaluator's own hooks (__evaluate_entry ...)
                    return None
                raise _fail(f"Undefined variable: ${name}")

        _STRICT_ROOT = StrictRoot(None)
    return _STRICT_ROOT


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
        expr.environment.parent = _strict_root()
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


def evaluate(value: str, states: dict, variables: dict | None = None) -> Any:
    """Evaluate one ``{% ... %}`` string; undefined results become None."""
    body = expression_body(value)
    expr = _compile(body)
    bindings = dict(variables or {})
    bindings["states"] = states
    try:
        result = expr.evaluate(states.get("input"), bindings)
    except StatesError:
        raise
    except Exception as exc:
        raise _fail(f"An error occurred while evaluating the expression '{body}': {exc}") from None
    return _plain(result)


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


def evaluate_template(value: Any, states: dict, variables: dict | None = None) -> Any:
    """Evaluate a JSONata-mode field: every ``{% %}`` string inside is replaced."""
    if is_expression(value):
        return evaluate(value, states, variables)
    if isinstance(value, dict):
        return {k: evaluate_template(v, states, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate_template(v, states, variables) for v in value]
    return value
