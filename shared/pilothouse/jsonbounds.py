"""Bounds on untrusted JSON, checked before it is parsed.

Python's parser (and pydantic after it) recurse once per nesting level, so a body such as
``[[[[...]]]]`` 100,000 levels deep raises ``RecursionError`` deep inside a framework. Every JSON
text that comes from outside (request bodies, cursors) is measured here first:

    >>> depth_exceeds('{"a": [1, {"b": "[[[["}]}', 2)
    True
    >>> depth_exceeds('{"a": [1, {"b": "[[[["}]}', 3)
    False

Imports nothing of Pilothouse.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: nesting levels a request body or cursor may have: far beyond any spec or workflow definition
#: people write (twenty Parallels inside each other are about a hundred levels), far below the
#: interpreter's recursion limit
MAX_DEPTH = 128

# A whole JSON string (so brackets inside strings do not count), or one bracket.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class TooDeep(ValueError):
    """The JSON text nests deeper than allowed."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the JSON nests deeper than {limit} levels")
        self.limit = limit


def depth_exceeds(text: str | bytes, limit: int = MAX_DEPTH) -> bool:
    """True when ``text`` opens more than ``limit`` arrays/objects inside each other.

    Linear in the text; texts with at most ``limit`` brackets in all are answered without a scan.
    """
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8", errors="replace")
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


def loads(text: str | bytes, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses texts nested deeper than ``limit`` with :class:`TooDeep`."""
    if depth_exceeds(text, limit):
        raise TooDeep(limit)
    return json.loads(text)
