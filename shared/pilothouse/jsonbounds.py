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

# Quotes, backslashes and brackets: everything the depth scan has to look at.
_SIGNIFICANT = re.compile(r'[\\"\[\]{}]')


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
    in_string = escaped = False
    for match in _SIGNIFICANT.finditer(text):  # one pass, whatever the text: never backtracks
        char = match.group()
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                # the escaped character is the very next one; a quote there must not end the string
                escaped = match.end() < len(text) and text[match.end()] in '"\\'
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def loads(text: str | bytes, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` that refuses texts nested deeper than ``limit`` with :class:`TooDeep`."""
    if depth_exceeds(text, limit):
        raise TooDeep(limit)
    return json.loads(text)
