"""Intrinsic functions (``States.Format(...)`` etc.) of JSONPath states.

:func:`parse` turns the text into a small AST (raising
:class:`IntrinsicSyntaxError`, used by validation); :func:`evaluate` runs
it.  Argument problems raise ``States.IntrinsicFailure``; a path argument
that selects nothing raises ``States.Runtime``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from . import jsonpath
from .errors import intrinsic_failure, runtime
from .intrinsic_functions import _ARITY, _ESCAPES, FUNCTIONS, MAX_STRING, _format  # noqa: F401

MAX_NESTING = 10


class IntrinsicSyntaxError(ValueError):
    """The intrinsic function text cannot be parsed."""


_NAME_RE = re.compile(r"States\.[A-Za-z0-9]+")
_NUM_RE = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")


def looks_like_intrinsic(text: Any) -> bool:
    """Return True when ``text`` starts like an intrinsic call."""
    return isinstance(text, str) and bool(re.match(r"States\.[A-Za-z0-9]+\s*\(", text))


@lru_cache(maxsize=2048)
def parse(text: str) -> tuple:
    """Parse an intrinsic call into ``("call", name, args)``."""
    p = _Parser(text)
    node = p.call()
    p.skip_ws()
    if p.pos != len(text):
        raise IntrinsicSyntaxError(f"unexpected text after call at offset {p.pos}: {text!r}")
    if _depth(node) > MAX_NESTING:
        raise IntrinsicSyntaxError(f"more than {MAX_NESTING} nested intrinsic functions")
    return node


def _depth(node: tuple) -> int:
    if node[0] != "call":
        return 0
    return 1 + max((_depth(a) for a in node[2]), default=0)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def call(self) -> tuple:
        self.skip_ws()
        m = _NAME_RE.match(self.text, self.pos)
        if not m:
            raise IntrinsicSyntaxError(f"expected States.<Function> at offset {self.pos}: {self.text!r}")
        name = m.group(0)
        if name not in FUNCTIONS:
            raise IntrinsicSyntaxError(f"unknown intrinsic function {name}")
        self.pos = m.end()
        self.skip_ws()
        if self.pos >= len(self.text) or self.text[self.pos] != "(":
            raise IntrinsicSyntaxError(f"expected '(' after {name}")
        self.pos += 1
        args: list = []
        self.skip_ws()
        if self.pos < len(self.text) and self.text[self.pos] == ")":
            self.pos += 1
            return ("call", name, tuple(args))
        while True:
            args.append(self.arg())
            self.skip_ws()
            if self.pos >= len(self.text):
                raise IntrinsicSyntaxError(f"unclosed call to {name}")
            c = self.text[self.pos]
            self.pos += 1
            if c == ")":
                return ("call", name, tuple(args))
            if c != ",":
                raise IntrinsicSyntaxError(f"expected ',' or ')' at offset {self.pos - 1}")

    def arg(self) -> tuple:
        self.skip_ws()
        t, i = self.text, self.pos
        if i >= len(t):
            raise IntrinsicSyntaxError("missing argument")
        if t[i] == "'":
            return self.string()
        if t.startswith("States.", i):
            return self.call()
        if t[i] == "$":
            return self.path()
        m = _NUM_RE.match(t, i)
        if m:
            self.pos = m.end()
            txt = m.group(0)
            return ("lit", float(txt) if any(c in txt for c in ".eE") else int(txt), None)
        for word, val in (("true", True), ("false", False), ("null", None)):
            if t.startswith(word, i):
                self.pos = i + len(word)
                return ("lit", val, None)
        raise IntrinsicSyntaxError(f"bad argument at offset {i}: {t!r}")

    def string(self) -> tuple:
        t = self.text
        i = self.pos + 1
        raw: list = []
        while i < len(t):
            c = t[i]
            if c == "\\" and i + 1 < len(t):
                raw.append(t[i : i + 2])
                i += 2
                continue
            if c == "'":
                self.pos = i + 1
                rawtext = "".join(raw)
                return ("lit", _unescape(rawtext), rawtext)
            raw.append(c)
            i += 1
        raise IntrinsicSyntaxError("unterminated string literal")

    def path(self) -> tuple:
        t = self.text
        i = self.pos
        depth, quote = 0, None
        while i < len(t):
            c = t[i]
            if quote:
                if c == "\\":
                    i += 1  # an escaped character (\' or \\) never ends the quoted key
                elif c == quote:
                    quote = None
            elif c in "'\"" and depth > 0:
                quote = c
            elif c in "[(":
                depth += 1
            elif c in "])":
                if depth == 0:
                    break
                depth -= 1
            elif c == "," and depth == 0:
                break
            i += 1
        text = t[self.pos : i].strip()
        self.pos = i
        try:
            jsonpath.compile_path(text)
        except jsonpath.JsonPathSyntaxError as exc:
            raise IntrinsicSyntaxError(str(exc)) from None
        return ("path", text)


def _unescape(raw: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), raw)


# ---------------------------------------------------------------- evaluation
def evaluate(
    text_or_ast: str | tuple, data: Any, *, context: Any = None, variables: dict | None = None
) -> Any:
    """Evaluate an intrinsic call against ``data`` (the ``$`` document)."""
    ast = parse(text_or_ast) if isinstance(text_or_ast, str) else text_or_ast
    return _eval(ast, data, context, variables)


def _eval(node: tuple, data: Any, context: Any, variables: dict | None) -> Any:
    kind = node[0]
    if kind == "lit":
        return node[1]
    if kind == "path":
        try:
            return jsonpath.evaluate(node[1], data, context=context, variables=variables)
        except jsonpath.PathNotFound as exc:
            raise runtime(
                f"The JsonPath argument '{node[1]}' for an intrinsic function could not be found: {exc}"
            ) from None
    name, args = node[1], node[2]
    values = [_eval(a, data, context, variables) for a in args]
    if name == "States.Format":
        raw = args[0][2] if args and args[0][0] == "lit" and args[0][2] is not None else None
        return _format(values, raw)
    return FUNCTIONS[name](*_check_count(name, values))


def _check_count(name: str, values: list) -> list:
    lo, hi = _ARITY[name]
    if len(values) < lo or (hi is not None and len(values) > hi):
        want = f"{lo}" if lo == hi else f"{lo}..{hi if hi is not None else 'n'}"
        raise intrinsic_failure(f"{name} expects {want} argument(s) but received {len(values)}")
    return values
