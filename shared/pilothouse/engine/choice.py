"""Choice rules of JSONPath states (comparison operators, And/Or/Not)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from . import jsonpath
from .errors import runtime
from .paths import Env

_TYPES = ("String", "Numeric", "Boolean", "Timestamp")
_OPS = ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")

#: Every binary comparison operator name, with and without the ``Path`` suffix.
COMPARISONS = tuple(f"{t}{o}" for t in _TYPES for o in _OPS if not (t == "Boolean" and o != "Equals"))
COMPARISON_OPERATORS = frozenset(COMPARISONS + tuple(c + "Path" for c in COMPARISONS) + ("StringMatches",))
TYPE_TESTS = frozenset({"IsPresent", "IsNull", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp"})
LOGICAL = frozenset({"And", "Or", "Not"})
ALL_OPERATORS = COMPARISON_OPERATORS | TYPE_TESTS | LOGICAL

_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_timestamp(value: Any) -> datetime | None:
    """Parse an RFC 3339 timestamp as Step Functions accepts it, else None.

    An uppercase ``T`` separator and a ``Z`` or numeric offset are required.
    """
    if not isinstance(value, str) or not _TS_RE.match(value):
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", text)
    if m and m.group(2):
        frac = (m.group(2)[1:] + "000000")[:6]
        text = f"{m.group(1)}.{frac}{m.group(3)}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def string_matches(value: str, pattern: str) -> bool:
    """``StringMatches``: ``*`` matches any run of characters; ``\\*`` is a literal star."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "*" else re.escape(c))
        i += 1
    return re.fullmatch("".join(out), value, re.S) is not None


def operator_of(rule: dict) -> str | None:
    """Return the single operator key of a choice rule (or None)."""
    found = [k for k in rule if k in ALL_OPERATORS]
    return found[0] if len(found) == 1 else None


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _cmp(kind: str, op: str, a: Any, b: Any) -> bool:
    if kind == "String":
        if not (isinstance(a, str) and isinstance(b, str)):
            return False
    elif kind == "Numeric":
        if not (_is_num(a) and _is_num(b)):
            return False
    elif kind == "Boolean":
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    elif kind == "Timestamp":
        a, b = parse_timestamp(a), parse_timestamp(b)
        if a is None or b is None:
            return False
    return {
        "Equals": a == b,
        "LessThan": a < b,
        "GreaterThan": a > b,
        "LessThanEquals": a <= b,
        "GreaterThanEquals": a >= b,
    }[op]


def evaluate_rule(rule: dict, data: Any, env: Env) -> bool:
    """Evaluate one (possibly nested) JSONPath choice rule against ``data``."""
    if "And" in rule:
        return all(evaluate_rule(r, data, env) for r in rule["And"])
    if "Or" in rule:
        return any(evaluate_rule(r, data, env) for r in rule["Or"])
    if "Not" in rule:
        return not evaluate_rule(rule["Not"], data, env)
    variable = rule.get("Variable")
    op = operator_of(rule)
    if op is None:
        raise runtime(f"Choice rule has no single comparison operator: {rule}")
    present, value = _lookup(variable, data, env)
    if op == "IsPresent":
        return present == bool(rule[op])
    if not present:
        raise runtime(
            f"Invalid path '{variable}': The choice state's condition path references an invalid value."
        )
    if op in TYPE_TESTS:
        actual = {
            "IsNull": value is None,
            "IsNumeric": _is_num(value),
            "IsString": isinstance(value, str),
            "IsBoolean": isinstance(value, bool),
            "IsTimestamp": parse_timestamp(value) is not None,
        }[op]
        return actual == bool(rule[op])
    if op == "StringMatches":
        return isinstance(value, str) and isinstance(rule[op], str) and string_matches(value, rule[op])
    expected = rule[op]
    base = op
    if op.endswith("Path"):
        base = op[:-4]
        ok, expected = _lookup(expected, data, env)
        if not ok:
            raise runtime(
                f"Invalid path '{rule[op]}': The choice state's condition path references an invalid value."
            )
    kind = next(t for t in _TYPES if base.startswith(t))
    return _cmp(kind, base[len(kind) :], value, expected)


def _lookup(path: Any, data: Any, env: Env) -> tuple:
    if not isinstance(path, str):
        raise runtime(f"Choice rule Variable must be a path, got {path!r}")
    try:
        p = jsonpath.compile_path(path)
        found = jsonpath.select(p, data, context=env.context, variables=env.variables)
    except jsonpath.PathNotFound:
        return False, None
    except jsonpath.JsonPathSyntaxError as exc:
        raise runtime(str(exc)) from None
    if p.definite:
        return (True, found[0]) if found else (False, None)
    return True, found
