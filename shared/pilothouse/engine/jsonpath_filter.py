"""Filter expressions ``[?(...)]`` of the JSONPath implementation."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from .jsonpath import (
    _INT_RE,
    _MISSING,
    JsonPathSyntaxError,
    _find_close,
    _Parser,
    _scan,
    _split_at,
    _unquote,
    _walk,
    compile_path,
)

_CMP_RE = re.compile(r"^(.*?)\s*(==|!=|<=|>=|<|>)\s*(.*)$", re.S)
#: what the filter orders: two strings or two numbers, never one of each
_Ordered = TypeVar("_Ordered", str, float)


def parse_filter(expr: str, text: str) -> tuple:
    """Parse the body of ``[?( ... )]`` into a small expression tree."""
    expr = expr.strip()
    ors = _split_logic(expr, "||")
    if len(ors) > 1:
        return ("or", tuple(parse_filter(p, text) for p in ors))
    ands = _split_logic(expr, "&&")
    if len(ands) > 1:
        return ("and", tuple(parse_filter(p, text) for p in ands))
    if expr.startswith("!"):
        return ("not", parse_filter(expr[1:], text))
    if expr.startswith("(") and _find_close(expr, 0) == len(expr) - 1:
        return parse_filter(expr[1:-1], text)
    m = _CMP_RE.match(expr)
    if m:
        return ("cmp", m.group(2), _operand(m.group(1), text), _operand(m.group(3), text))
    return ("exists", _operand(expr, text))


def _split_logic(expr: str, op: str) -> list:
    """Split on a logical operator standing outside quotes and brackets (operands stripped)."""
    cuts: list = []
    for i, _c, depth in _scan(expr):
        if depth == 0 and expr.startswith(op, i) and (not cuts or i >= cuts[-1] + len(op)):
            cuts.append(i)
    return [part.strip() for part in _split_at(expr, cuts, len(op))]


def _operand(s: str, text: str) -> tuple:
    s = s.strip()
    if s.startswith("@"):
        sub = _Parser("$" + s[1:], 1)
        return ("rel", tuple(sub.parse_steps()))
    if s.startswith("$"):
        return ("abs", compile_path(s))
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return ("lit", _unquote(s))
    if s in ("true", "false"):
        return ("lit", s == "true")
    if s == "null":
        return ("lit", None)
    try:
        return ("lit", int(s)) if _INT_RE.match(s) else ("lit", float(s))
    except ValueError:
        raise JsonPathSyntaxError(f"bad filter operand {s!r} in {text!r}") from None


def _operand_value(op: tuple, node: Any, root: Any) -> Any:
    kind, arg = op
    if kind == "lit":
        return arg
    if kind == "rel":
        found = _walk([node], arg)
        return found[0] if found else _MISSING
    found = _walk([root], arg.steps)
    return found[0] if found else _MISSING


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return False
    if op == "==":
        return _json_eq(a, b)
    if op == "!=":
        return not _json_eq(a, b)
    if isinstance(a, bool) or isinstance(b, bool):
        return False
    if isinstance(a, str) and isinstance(b, str):
        return _ordered(op, a, b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        return _ordered(op, a, b)
    return False


def _ordered(op: str, a: _Ordered, b: _Ordered) -> bool:
    """``a op b`` for two strings or two numbers (``op`` one of ``< <= > >=``)."""
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _json_eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    return a == b


def filter_ok(f: tuple, node: Any, root: Any) -> bool:
    """Evaluate a parsed filter against ``node`` (``@``) and ``root`` (``$``)."""
    kind = f[0]
    if kind == "or":
        return any(filter_ok(p, node, root) for p in f[1])
    if kind == "and":
        return all(filter_ok(p, node, root) for p in f[1])
    if kind == "not":
        return not filter_ok(f[1], node, root)
    if kind == "exists":
        return _operand_value(f[1], node, root) is not _MISSING
    return _compare(f[1], _operand_value(f[2], node, root), _operand_value(f[3], node, root))
