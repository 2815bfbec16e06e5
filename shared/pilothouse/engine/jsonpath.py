"""A JSONPath implementation covering what AWS Step Functions accepts.

Supported syntax: ``$``, ``$$`` (context object), ``$name`` (workflow
variable), ``.field``, ``['field']`` / ``["field"]``, ``[n]`` (negative
allowed), ``[start:end:step]``, ``[*]`` / ``.*``, ``..`` (recursive
descent), unions ``[0,2]`` / ``['a','b']`` and filters
``[?(@.price < 10 && @.tag == 'x')]`` including existence tests
``[?(@.isbn)]``.

A path is *definite* when it selects at most one node (no wildcard,
slice, union, filter or descent); definite paths evaluate to a value,
indefinite paths always evaluate to a list of matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_MISSING = object()


class JsonPathSyntaxError(ValueError):
    """The path text is not valid JSONPath."""


class PathNotFound(LookupError):
    """A definite path selected nothing."""


@dataclass(frozen=True)
class Step:
    """One selector of a compiled path."""

    kind: str  # field, index, slice, wild, union, filter, descent
    arg: Any = None


@dataclass(frozen=True)
class CompiledPath:
    """A parsed JSONPath: a root (``$``, ``$$`` or a variable) and steps."""

    text: str
    root: str  # "$", "$$" or "var"
    var: str | None
    steps: tuple
    definite: bool


_NAME_RE = re.compile(r"[^.\[\]\s()'\",=<>!&|]+")
_VAR_RE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@lru_cache(maxsize=4096)
def compile_path(text: str) -> CompiledPath:
    """Parse ``text`` into a :class:`CompiledPath` (cached)."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise JsonPathSyntaxError(f"path must start with '$': {text!r}")
    pos = 1
    var = None
    if text.startswith("$$"):
        root, pos = "$$", 2
    else:
        m = _VAR_RE.match(text)
        if m:
            root, var, pos = "var", m.group(1), m.end()
        else:
            root = "$"
    parser = _Parser(text, pos)
    steps = parser.parse_steps()
    definite = all(s.kind in ("field", "index") for s in steps)
    return CompiledPath(text, root, var, tuple(steps), definite)


def is_valid_path(text: str) -> bool:
    """Return True when ``text`` parses as JSONPath."""
    try:
        compile_path(text)
        return True
    except JsonPathSyntaxError:
        return False


def is_reference_path(text: str) -> bool:
    """Return True for a *reference path*: definite, rooted at ``$``."""
    try:
        p = compile_path(text)
    except JsonPathSyntaxError:
        return False
    return p.definite and p.root == "$"


class _Parser:
    def __init__(self, text: str, pos: int) -> None:
        self.text = text
        self.pos = pos

    def error(self, msg: str) -> JsonPathSyntaxError:
        return JsonPathSyntaxError(f"{msg} at offset {self.pos} in {self.text!r}")

    def parse_steps(self) -> list:
        steps: list = []
        t = self.text
        while self.pos < len(t):
            c = t[self.pos]
            if t.startswith("..", self.pos):
                self.pos += 2
                steps.append(Step("descent"))
                if self.pos < len(t) and t[self.pos] == "[":
                    continue
                steps.append(self._dot_member())
            elif c == ".":
                self.pos += 1
                steps.append(self._dot_member())
            elif c == "[":
                steps.append(self._bracket())
            else:
                raise self.error(f"unexpected character {c!r}")
        return steps

    def _dot_member(self) -> Step:
        t = self.text
        if self.pos < len(t) and t[self.pos] == "*":
            self.pos += 1
            return Step("wild")
        m = _NAME_RE.match(t, self.pos)
        if not m:
            raise self.error("expected a field name")
        self.pos = m.end()
        return Step("field", m.group(0))

    def _bracket(self) -> Step:
        t = self.text
        end = _find_close(t, self.pos)
        if end < 0:
            raise self.error("unclosed '['")
        inner = t[self.pos + 1 : end].strip()
        self.pos = end + 1
        if inner == "*":
            return Step("wild")
        if inner.startswith("?"):
            from .jsonpath_filter import parse_filter

            body = inner[1:].strip()
            if not (body.startswith("(") and body.endswith(")")):
                raise self.error("filter must be ?(...)")
            return Step("filter", parse_filter(body[1:-1], self.text))
        parts = _split_top(inner, ",")
        if len(parts) > 1:
            return Step("union", tuple(_selector(p.strip(), self) for p in parts))
        return _selector(inner, self)


def _scan(text: str, start: int = 0):
    """Yield ``(index, char, depth)`` for every character outside quoted strings; ``depth`` counts
    the ``[``/``(`` open after the character is read (escapes inside quotes are skipped)."""
    depth, quote, i = 0, None, start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        else:
            if c in "[(":
                depth += 1
            elif c in "])":
                depth -= 1
            yield i, c, depth
        i += 1


def _find_close(t: str, start: int) -> int:
    """Index of the bracket closing the one at ``start`` (-1 if none)."""
    return next((i for i, c, depth in _scan(t, start) if c in "])" and depth == 0), -1)


def _split_top(s: str, sep: str) -> list:
    """Split on ``sep`` where it stands outside quotes and brackets."""
    return _split_at(s, [i for i, c, depth in _scan(s) if c == sep and depth == 0], len(sep))


def _split_at(s: str, cuts: list, width: int) -> list:
    parts, start = [], 0
    for i in cuts:
        parts.append(s[start:i])
        start = i + width
    parts.append(s[start:])
    return parts


def _unquote(s: str) -> str:
    """The key of a quoted bracket selector. Only the opening quote and the backslash itself are
    escaped; any other backslash is the key's own, as AWS reads it (recorded: the key
    ``Test\\""Name"`` is selected by ``$['Test\\""Name"']``)."""
    quote, body = s[0], s[1:-1]
    return re.sub(r"\\(.)", lambda m: m.group(1) if m.group(1) in (quote, "\\") else m.group(0), body)


_INT_RE = re.compile(r"^-?\d+$")
_SLICE_RE = re.compile(r"^(-?\d*)\s*:\s*(-?\d*)\s*(?::\s*(-?\d*))?$")


def _selector(s: str, parser: _Parser) -> Step:
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return Step("field", _unquote(s))
    if _INT_RE.match(s):
        return Step("index", int(s))
    m = _SLICE_RE.match(s)
    if m:
        vals = tuple(int(v) if v not in (None, "") else None for v in m.groups())
        if vals[2] == 0:
            raise parser.error("slice step cannot be 0")
        return Step("slice", vals)
    if s == "*":
        return Step("wild")
    raise parser.error(f"bad selector [{s}]")


# ---------------------------------------------------------------- evaluation
def _children(node: Any) -> list:
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, list):
        return list(node)
    return []


def _descendants(node: Any) -> list:
    out = [node]
    for child in _children(node):
        out.extend(_descendants(child))
    return out


def _walk(nodes: list, steps: tuple, root: Any = None) -> list:
    for step in steps:
        nxt: list = []
        for node in nodes:
            nxt.extend(_apply(step, node, root if root is not None else node))
        nodes = nxt
    return nodes


def _apply(step: Step, node: Any, root: Any) -> list:
    k = step.kind
    if k == "field":
        if isinstance(node, dict) and step.arg in node:
            return [node[step.arg]]
        return []
    if k == "index":
        if isinstance(node, list):
            i = step.arg
            if -len(node) <= i < len(node):
                return [node[i]]
        return []
    if k == "wild":
        return _children(node)
    if k == "slice":
        if isinstance(node, list):
            a, b, c = step.arg
            return node[slice(a, b, c)]
        return []
    if k == "union":
        out: list = []
        for sub in step.arg:
            out.extend(_apply(sub, node, root))
        return out
    if k == "filter":
        from .jsonpath_filter import filter_ok

        return [c for c in _children(node) if filter_ok(step.arg, c, root)]
    if k == "descent":
        return _descendants(node)
    raise AssertionError(k)


def select(
    path: str | CompiledPath, data: Any, *, context: Any = None, variables: dict | None = None
) -> list:
    """Return every node that ``path`` selects (a list, maybe empty).

    ``context`` is the ``$$`` context object and ``variables`` maps
    workflow variable names for ``$name`` paths.  An unknown variable
    raises :class:`PathNotFound`.
    """
    p = compile_path(path) if isinstance(path, str) else path
    if p.root == "$$":
        base = context
    elif p.root == "var":
        if variables is None or p.var not in variables:
            raise PathNotFound(f"variable ${p.var} is not defined")
        base = variables[p.var]
    else:
        base = data
    return _walk([base], p.steps, base)


def evaluate(
    path: str | CompiledPath, data: Any, *, context: Any = None, variables: dict | None = None
) -> Any:
    """Evaluate ``path`` the way Step Functions does.

    A definite path returns the selected value or raises
    :class:`PathNotFound`; an indefinite path returns the list of matches.
    """
    p = compile_path(path) if isinstance(path, str) else path
    found = select(p, data, context=context, variables=variables)
    if p.definite:
        if not found:
            raise PathNotFound(f"the path '{p.text}' selected nothing")
        return found[0]
    return found


def exists(path: str, data: Any, *, context: Any = None, variables: dict | None = None) -> bool:
    """Return True when ``path`` selects at least one node."""
    try:
        return bool(select(path, data, context=context, variables=variables))
    except PathNotFound:
        return False
