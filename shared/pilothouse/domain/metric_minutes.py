"""A stored minute block's minutes, pure: their compact, columnar spelling and statistics read from it.

A block (one series' hour, :mod:`pilothouse.repositories.metrics`) keeps its minutes as columns,
each one string (JSON parsers are slow at numbers and quick at strings; a query decodes only the
columns it reads): ``mm`` the minutes present (uint8, in order), ``count`` (uint64), ``sum``,
``min``, ``max`` and the kept percentiles ``p50``, ``p90``, ``p99`` (float64), each the base64 of
the little-endian array; ``hist`` a list of each minute's histogram
(:mod:`pilothouse.domain.metric_histogram`) packed into one string: ``I`` (``Q`` when a count
passes 2**32), the base64 of the bucket codes (int16, in value order), ``:``, the base64 of their
counts (uint32, or uint64 after ``Q``).

The kept percentiles are :func:`metric_histogram.percentile` of the minute's histogram, computed
when the minute is written: a query of one of them at one-minute resolution reads one column and
merges no histogram. Any other percentile, and any merge of minutes, unpacks the histograms.

A bucket's code keeps the value order and the value's sign: ``0`` for zero, ``OFFSET + i`` for
positive bucket ``i`` (``i`` may be negative: a value below 1), ``-(OFFSET + i)`` for the negative
values mirrored into bucket ``i``; ``i`` stays within ``1 - OFFSET .. 32767 - OFFSET``
(:func:`metric_histogram.index_of`). Blocks of layout version 4 spelled a positive value below 1
as a negative code (:mod:`pilothouse.domain.metric_legacy`).

    >>> from pilothouse.domain.metric_histogram import ACCURACY, add
    >>> hist = {}
    >>> for v in (1.0, 2.0, 3.0):
    ...     add(hist, v)
    >>> m = minute(3, 6.0, 1.0, 3.0, hist)
    >>> m[4], unpack(m[4]) == hist
    ('IAEASQBxA:AQAAAAEAAAABAAAA', True)
    >>> abs(m[5] - 2.0) <= 2.0 * ACCURACY, abs(m[7] - 2.0) <= 2.0 * ACCURACY  # p99 of 3: the 2nd
    (True, True)
    >>> columns = encode({"07": m})
    >>> decode(columns) == {"07": m}
    True
    >>> values(columns, "p50") == ([7], [m[5]]), values(columns, "Sum"), values(columns, "p75")[1] == [m[7]]
    (True, ([7], [6.0]), True)
"""

from __future__ import annotations

import math
import sys
from array import array
from binascii import a2b_base64, b2a_base64
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Any

from pilothouse.domain.metric_histogram import MAX_BUCKETS, OFFSET, percentile, value_of

#: the percentiles a minute keeps beside its histogram (what alerts, scaling and dashboards read)
KEPT = (50.0, 90.0, 99.0)
_LITTLE = sys.byteorder == "little"

#: bucket key -> code and back, as computed once (a few thousand keys at most)
_codes: dict[str, int] = {}
_keys: dict[int, str] = {}


def _code(key: str) -> int:
    code = _codes.get(key)
    if code is None:
        if key == "z":
            code = 0
        elif key[0] == "-":
            code = -(OFFSET + int(key[1:]))
        else:
            code = OFFSET + int(key[1:] if key[0] == "+" else key)
        if key != "z" and (not 0 < abs(code) <= 32767 or (code > 0) == (key[0] == "-")):
            raise ValueError(f"histogram bucket {key!r} is out of the packed range")
        _codes[key] = code
        _keys[code] = key
    return code


def _key(code: int) -> str:
    key = _keys.get(code)
    if key is None:
        if code == 0:
            key = "z"
        elif code > 0:
            key = str(code - OFFSET) if code >= OFFSET else f"+{code - OFFSET}"
        else:
            key = f"-{-code - OFFSET}"
        _keys[code] = key
        _codes[key] = code
    return key


def _b64(values: array) -> str:
    if not _LITTLE:
        values.byteswap()
    return b2a_base64(values, newline=False).decode("ascii")


def _arr(kind: str, text: str) -> array:
    values = array(kind, a2b_base64(text))
    if not _LITTLE:
        values.byteswap()
    return values


def pack(buckets: Mapping[str, int]) -> str:
    """The packed spelling of buckets given in value order (:func:`metric_histogram.ordered`)."""
    counts = list(buckets.values())
    wide = bool(counts) and max(counts) >= 2**32
    codes = array("h", [_code(k) for k in buckets])
    return ("Q" if wide else "I") + _b64(codes) + ":" + _b64(array("Q" if wide else "I", counts))


def unpack(packed: str) -> dict[str, int]:
    """The buckets of a packed histogram, in value order."""
    codes, _, counts = packed[1:].partition(":")
    keys = _keys
    return {
        keys[c] if c in keys else _key(c): n
        for c, n in zip(_arr("h", codes), _arr(packed[0], counts), strict=True)
    }


def pack_codes(codes: Sequence[int], counts: Sequence[int]) -> str:
    """The packed spelling of a histogram given as bucket codes (ascending) and their counts."""
    wide = bool(counts) and max(counts) >= 2**32
    return ("Q" if wide else "I") + _b64(array("h", codes)) + ":" + _b64(array("Q" if wide else "I", counts))


def unpack_codes(packed: str) -> tuple[array, array]:
    """The bucket codes (ascending) and counts of a packed histogram."""
    codes, _, counts = packed[1:].partition(":")
    return _arr("h", codes), _arr(packed[0], counts)


#: each bucket code's representative value, as computed once
_code_values: dict[int, float] = {}


def _code_value(code: int) -> float:
    value = _code_values.get(code)
    if value is None:
        value = _code_values[code] = value_of(_key(code))
    return value


def kept_of(codes: Sequence[int], counts: Sequence[int], count: int, low: float, high: float) -> list[float]:
    """The kept percentiles (:data:`KEPT`) of a histogram of ``count`` values given as bucket codes
    (ascending) and their counts: :func:`metric_histogram.percentile`'s figures (the first bucket
    whose running count passes the rank), read without spelling the buckets as keys.

        >>> [round(v, 2) for v in kept_of([0, 16384, 16402], [1, 1, 2], 4, 0.0, 2.5)]  # p50, p90, p99
        [0.98, 2.01, 2.01]
    """
    running = list(accumulate(counts))
    out = []
    for q in KEPT:
        at = bisect_right(running, q / 100 * (count - 1))
        value = _code_value(codes[at]) if at < len(running) else high
        out.append(min(max(value, low), high))
    return out


def add_minutes(columns: Mapping[str, Any] | None, minutes: Mapping[int, Sequence[Any]]) -> dict[str, Any]:
    """A block's columns with a batch's minutes added: ``minutes`` maps a minute (0-59) to its
    ``[count, sum, min, max, {bucket code: count}]`` (:func:`metric_histogram.bucket_code`).

    Only what the batch touches is unpacked: the number columns are arrays changed in place, and of
    the histograms and kept percentiles only the touched minutes' are read and computed again
    (the others are copied as stored). A histogram keeps at most
    :data:`metric_histogram.MAX_BUCKETS` buckets, the lowest collapsing into one.

        >>> from pilothouse.domain.metric_histogram import bucket_code
        >>> one = add_minutes(None, {7: [2, 3.0, 1.0, 2.0, {bucket_code(1.0): 1, bucket_code(2.0): 1}]})
        >>> more = {7: [1, 3.0, 3.0, 3.0, {bucket_code(3.0): 1}], 2: [1, 0.0, 0.0, 0.0, {0: 1}]}
        >>> two = add_minutes(one, more)
        >>> [(m, e[:4]) for m, e in decode(two).items()]
        [('02', (1, 0.0, 0.0, 0.0)), ('07', (3, 6.0, 1.0, 3.0))]
        >>> from pilothouse.domain.metric_histogram import bucket_key
        >>> decode(two)["07"] == minute(3, 6.0, 1.0, 3.0, {bucket_key(v): 1 for v in (1.0, 2.0, 3.0)})
        True
    """
    if columns:
        mm = _arr("B", columns["mm"])
        numbers = [_arr(kind, columns[name]) for name, kind in COLUMNS]
        hists = list(columns["hist"])
        kept = [_arr(kind, columns[name]) for name, kind in KEPT_COLUMNS]
    else:
        mm, hists = array("B"), []
        numbers = [array(kind) for _, kind in COLUMNS]
        kept = [array(kind) for _, kind in KEPT_COLUMNS]
    count, total, low, high = numbers
    for m in sorted(minutes):
        n, added, lo, hi, buckets = minutes[m]
        at = bisect_left(mm, m)
        if at < len(mm) and mm[at] == m:
            codes, counts = unpack_codes(hists[at])
            merged = dict(zip(codes, counts, strict=True))
            for code, c in buckets.items():
                merged[code] = merged.get(code, 0) + c
            n, added = count[at] + n, total[at] + added
            lo, hi = min(low[at], lo), max(high[at], hi)
            count[at], total[at], low[at], high[at] = n, added, lo, hi
        else:
            merged = buckets
            mm.insert(at, m)
            for column, figure in zip(numbers, (n, added, lo, hi), strict=True):
                column.insert(at, figure)
            hists.insert(at, "")
            for column in kept:
                column.insert(at, 0.0)
        keys = sorted(merged)
        figures = [merged[k] for k in keys]
        if len(keys) > MAX_BUCKETS:
            cut = len(keys) - MAX_BUCKETS
            figures[cut] = sum(figures[: cut + 1])
            keys, figures = keys[cut:], figures[cut:]
        hists[at] = pack_codes(keys, figures)
        for column, value in zip(kept, kept_of(keys, figures, n, lo, hi), strict=True):
            column[at] = value
    out: dict[str, Any] = {"mm": _b64(mm)}
    for (name, _), column in zip(COLUMNS, numbers, strict=True):
        out[name] = _b64(column)
    out["hist"] = hists
    for (name, _), column in zip(KEPT_COLUMNS, kept, strict=True):
        out[name] = _b64(column)
    return out


def minute(count: int, total: float, low: float, high: float, hist: Mapping[str, int]) -> tuple:
    """A block's minute of these figures; ``hist`` in value order."""
    kept = [percentile(hist, q, low=low, high=high, in_order=True, total=count) for q in KEPT]
    return (count, total, low, high, pack(hist), *kept)


#: a block's number columns: name and array type, in a minute tuple's order
COLUMNS = (("count", "Q"), ("sum", "d"), ("min", "d"), ("max", "d"))
KEPT_COLUMNS = tuple((f"p{q:g}", "d") for q in KEPT)


def encode(minutes: Mapping[str, Sequence[Any]]) -> dict[str, Any]:
    """The columns of a block's minutes (``"MM"`` to :func:`minute` tuples, in minute order)."""
    entries = list(minutes.values())
    out: dict[str, Any] = {"mm": _b64(array("B", [int(mm) for mm in minutes]))}
    for at, (name, kind) in enumerate(COLUMNS):
        out[name] = _b64(array(kind, [e[at] for e in entries]))
    out["hist"] = [e[4] for e in entries]
    for at, (name, kind) in enumerate(KEPT_COLUMNS, start=5):
        out[name] = _b64(array(kind, [math.nan if e[at] is None else e[at] for e in entries]))
    return out


def decode(columns: Mapping[str, Any]) -> dict[str, tuple]:
    """A block's minutes as :func:`minute` tuples by ``"MM"`` (the inverse of :func:`encode`)."""
    if not columns:
        return {}
    mm = _arr("B", columns["mm"])
    numbers = [_arr(kind, columns[name]) for name, kind in COLUMNS]
    kept = [[None if math.isnan(v) else v for v in _arr(kind, columns[name])] for name, kind in KEPT_COLUMNS]
    rows = zip(*numbers, columns["hist"], *kept, strict=True)
    return {
        f"{m:02d}": (int(c), float(t), float(lo), float(hi), *rest)
        for m, (c, t, lo, hi, *rest) in zip(mm, rows, strict=True)
    }


def minutes_of(columns: Mapping[str, Any]) -> list[int]:
    """The minutes (0-59) a block holds, in order."""
    return list(_arr("B", columns["mm"])) if columns else []


def rollup(entry: Sequence[Any], start: int, period: int) -> dict[str, Any]:
    """A minute tuple as a rollup (:func:`pilothouse.domain.metrics.new_rollup`'s keys), its
    histogram unpacked and in value order (``"ordered": True``)."""
    count, total, low, high, packed = entry[:5]
    return {
        "start": start,
        "period": period,
        "count": count,
        "sum": total,
        "min": low,
        "max": high,
        "hist": unpack(packed),
        "ordered": True,
    }


def values(columns: Mapping[str, Any], stat: str) -> tuple[list[int], list[float | None]]:
    """The minutes (0-59) a block holds and ``stat`` (checked already) of each, None where it
    counted nothing: decoded from the columns ``stat`` needs only (a kept percentile: its column;
    any other percentile: the histograms)."""
    if not columns:
        return [], []
    mm = minutes_of(columns)
    count = _arr("Q", columns["count"])
    if stat == "SampleCount":
        return mm, [float(c) if c else None for c in count]
    if stat in ("Sum", "Average", "Minimum", "Maximum"):
        figures = _arr(
            "d", columns[{"Sum": "sum", "Average": "sum", "Minimum": "min", "Maximum": "max"}[stat]]
        )
        if stat == "Average":
            return mm, [t / c if c else None for c, t in zip(count, figures, strict=True)]
        return mm, [t if c else None for c, t in zip(count, figures, strict=True)]
    q = float(stat[1:])
    if q in KEPT:
        kept = _arr("d", columns[f"p{q:g}"])
        return mm, [None if not c or math.isnan(v) else v for c, v in zip(count, kept, strict=True)]
    low, high = _arr("d", columns["min"]), _arr("d", columns["max"])
    return mm, [
        percentile(unpack(h), q, low=lo, high=hi, in_order=True, total=c) if c else None
        for c, lo, hi, h in zip(count, low, high, columns["hist"], strict=True)
    ]
