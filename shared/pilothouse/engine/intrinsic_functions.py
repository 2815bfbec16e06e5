"""Implementations of the ``States.*`` intrinsic functions and their argument checks."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Callable
from typing import Any

from .errors import intrinsic_failure

MAX_STRING = 10000
_ESCAPES = {"'": "'", "{": "{", "}": "}", "\\": "\\"}

_ARITY = {
    "States.StringToJson": (1, 1),
    "States.JsonToString": (1, 1),
    "States.Array": (0, None),
    "States.ArrayPartition": (2, 2),
    "States.ArrayContains": (2, 2),
    "States.ArrayRange": (3, 3),
    "States.ArrayGetItem": (2, 2),
    "States.ArrayLength": (1, 1),
    "States.ArrayUnique": (1, 1),
    "States.Base64Encode": (1, 1),
    "States.Base64Decode": (1, 1),
    "States.Hash": (2, 2),
    "States.JsonMerge": (3, 3),
    "States.MathRandom": (2, 3),
    "States.MathAdd": (2, 2),
    "States.StringSplit": (2, 2),
    "States.UUID": (0, 0),
    "States.Format": (1, None),
}


def _is_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


def _need(cond: bool, msg: str) -> None:
    if not cond:
        raise intrinsic_failure(msg)


def _fmt_value(v: Any) -> str:
    """One States.Format argument as AWS renders it: strings as they are, JSON literals as JSON,
    objects and arrays the way Java prints maps and lists (recorded on AWS:
    ``{"Arg1": 1, "Arg2": []}`` → ``{Arg1=1, Arg2=[]}``)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_fmt_value(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt_value(x) for x in v) + "]"
    raise intrinsic_failure(f"States.Format cannot format a {type(v).__name__}")


def _format(values: list, raw: str | None) -> str:
    _need(len(values) >= 1, "States.Format expects at least 1 argument")
    template = values[0]
    _need(isinstance(template, str), "States.Format first argument must be a string")
    src = raw if raw is not None else template
    args = values[1:]
    out, i, used = [], 0, 0
    while i < len(src):
        c = src[i]
        if c == "\\" and i + 1 < len(src):
            out.append(_ESCAPES.get(src[i + 1], "\\" + src[i + 1]))
            i += 2
            continue
        if src.startswith("{}", i):
            _need(used < len(args), "States.Format has more {} placeholders than arguments")
            out.append(_fmt_value(args[used]))
            used += 1
            i += 2
            continue
        out.append(c)
        i += 1
    _need(used == len(args), "States.Format has fewer {} placeholders than arguments")
    return "".join(out)


def _string_to_json(s: Any) -> Any:
    _need(isinstance(s, str), "States.StringToJson argument must be a string")
    if not s.strip():
        return None  # recorded on AWS: "" and " " give null
    try:
        return json.loads(s)
    except ValueError as exc:
        raise intrinsic_failure(f"States.StringToJson could not parse {s!r}: {exc}") from None


def _json_to_string(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def _array(*vals: Any) -> list:
    return list(vals)


def _partition(arr: Any, size: Any) -> list:
    _need(isinstance(arr, list), "States.ArrayPartition first argument must be an array")
    _need(_is_int(size) and size > 0, "States.ArrayPartition chunk size must be a positive integer")
    n = int(size)
    return [arr[i : i + n] for i in range(0, len(arr), n)]


def _contains(arr: Any, value: Any) -> bool:
    _need(isinstance(arr, list), "States.ArrayContains first argument must be an array")
    return any(_same(x, value) for x in arr)


def _same(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _range(start: Any, end: Any, step: Any) -> list:
    _need(all(_is_int(v) for v in (start, end, step)), "States.ArrayRange arguments must be integers")
    _need(step != 0, "States.ArrayRange step must not be 0")
    s, e, st = int(start), int(end), int(step)
    count = max(0, (e - s) // st + 1)
    _need(count <= 1000, "States.ArrayRange cannot generate more than 1000 items")
    return list(range(s, e + (1 if st > 0 else -1), st))


def _get_item(arr: Any, index: Any) -> Any:
    _need(isinstance(arr, list), "States.ArrayGetItem first argument must be an array")
    _need(_is_int(index) and index >= 0, "States.ArrayGetItem index must be a non-negative integer")
    _need(int(index) < len(arr), f"States.ArrayGetItem index {int(index)} is out of bounds")
    return arr[int(index)]


def _length(arr: Any) -> int:
    _need(isinstance(arr, list), "States.ArrayLength argument must be an array")
    return len(arr)


def _unique(arr: Any) -> list:
    _need(isinstance(arr, list), "States.ArrayUnique argument must be an array")
    out: list = []
    for x in arr:
        if not any(_same(x, y) for y in out):
            out.append(x)
    return out


def _b64encode(s: Any) -> str:
    _need(isinstance(s, str), "States.Base64Encode argument must be a string")
    _need(len(s) <= MAX_STRING, f"States.Base64Encode input exceeds {MAX_STRING} characters")
    return base64.b64encode(s.encode("utf-8")).decode("ascii")


def _b64decode(s: Any) -> str:
    _need(isinstance(s, str), "States.Base64Decode argument must be a string")
    _need(len(s) <= MAX_STRING, f"States.Base64Decode input exceeds {MAX_STRING} characters")
    try:
        return base64.b64decode(s.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise intrinsic_failure(f"States.Base64Decode could not decode the input: {exc}") from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(data: Any, algorithm: Any) -> str:
    _need(isinstance(data, str), "States.Hash data must be a string")
    _need(len(data) <= MAX_STRING, f"States.Hash input exceeds {MAX_STRING} characters")
    _need(algorithm in _HASHES, f"States.Hash algorithm must be one of {', '.join(_HASHES)}")
    return hashlib.new(_HASHES[algorithm], data.encode("utf-8")).hexdigest()


def _merge(a: Any, b: Any, deep: Any) -> dict:
    _need(isinstance(a, dict) and isinstance(b, dict), "States.JsonMerge arguments must be JSON objects")
    _need(deep is False, "States.JsonMerge supports only shallow merge: the third argument must be false")
    out = dict(a)
    out.update(b)
    return out


def _is_num(v: Any) -> bool:
    """A JSON number (NaN and infinities, which Python's json module lets in, are not)."""
    return isinstance(v, int) and not isinstance(v, bool) or isinstance(v, float) and math.isfinite(v)


def _round(v: float) -> int:
    """Round to the nearest integer, halves up, as Java's ``Math.round`` (AWS: 2.5 → 3, -2.5 → -2)."""
    return int(v) if isinstance(v, int) else math.floor(v + 0.5)


def _math_random(start: Any, end: Any, seed: Any = None) -> int:
    """A random integer from ``start`` (inclusive) to ``end`` (exclusive); non-integer bounds are
    rounded to the nearest integer, as the AWS developer guide documents for States.MathRandom."""
    _need(_is_num(start) and _is_num(end), "States.MathRandom start and end must be numbers")
    _need(seed is None or _is_int(seed), "States.MathRandom seed must be an integer")
    lo, hi = _round(start), _round(end)
    _need(lo <= hi, "States.MathRandom start must not be greater than end")
    rng = random.Random(int(seed)) if seed is not None else random.SystemRandom()
    return lo if lo == hi else rng.randrange(lo, hi)


INT_MIN, INT_MAX = -2147483648, 2147483647


def _math_add(a: Any, b: Any) -> int:
    """The sum of two numbers, each first rounded to the nearest integer (AWS: ``MathAdd(1.49, 1.5)``
    is 3, ``MathAdd(-1.5, 0)`` is -1; the developer guide: non-integers are rounded off)."""
    _need(_is_num(a) and _is_num(b), "States.MathAdd arguments must be numbers")
    x, y = _round(a), _round(b)
    _need(
        INT_MIN <= x <= INT_MAX and INT_MIN <= y <= INT_MAX,
        "States.MathAdd arguments must be 32-bit integers",
    )
    return x + y


def _split(s: Any, delims: Any) -> list:
    _need(isinstance(s, str) and isinstance(delims, str), "States.StringSplit arguments must be strings")
    if not delims:
        return [s] if s else []
    parts = re.split("[" + re.escape(delims) + "]", s)
    return [p for p in parts if p != ""]


def _uuid() -> str:
    return str(uuid.uuid4())


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "States.Format": lambda *a: _format(list(a), None),
    "States.StringToJson": _string_to_json,
    "States.JsonToString": _json_to_string,
    "States.Array": _array,
    "States.ArrayPartition": _partition,
    "States.ArrayContains": _contains,
    "States.ArrayRange": _range,
    "States.ArrayGetItem": _get_item,
    "States.ArrayLength": _length,
    "States.ArrayUnique": _unique,
    "States.Base64Encode": _b64encode,
    "States.Base64Decode": _b64decode,
    "States.Hash": _hash,
    "States.JsonMerge": _merge,
    "States.MathRandom": _math_random,
    "States.MathAdd": _math_add,
    "States.StringSplit": _split,
    "States.UUID": _uuid,
}
