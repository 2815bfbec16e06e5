"""Histograms stored under layout version 4's bucket spelling, read in today's, pure.

Up to layout version 4 a positive value below 1 (bucket index ``-k``, ``k > 0``) was spelled
``"-k"``, the key of the negative values of bucket ``k``, and packed as the same code
``-(OFFSET + k)``; ``"--k"`` (a negative value above -1) and every other key were unambiguous.
Version 5 spells the positive one ``"+-k"`` (code ``OFFSET - k``,
:mod:`pilothouse.domain.metric_histogram`). A stored item (minute block, hour rollup) that is not
marked ``buckets: 5`` is read through :func:`hist` / :func:`columns`, which decide each ambiguous
bucket from the item's (or the minute's) exact ``min`` and ``max``:

- ``min >= 0``: nothing negative was counted, so it is a positive value below 1;
- ``max <= 0``: nothing positive was counted, so it is a negative value;
- both signs (``min < 0 < max``): the max's own bucket (a max below 1 of index ``-k``) is
  positive, the min's own bucket (a min of index ``k``) negative (a histogram always holds its
  max's bucket, and its min's unless it collapsed its lowest buckets); else the reading whose range
  the min/max allow: positive when the max reaches the bucket (``max > GAMMA**(-k-1)``) and the
  min does not (``min > -GAMMA**(k-1)``), negative the other way round; where both readings are
  possible (or neither, or the bucket is both the min's and the max's), positive below 1, since
  negative metric values are rare. A ``k`` no positive value can reach (below ``_TINY``,
  ``k > 518``) is negative.

    >>> hist({"-17": 1, "2": 1}, 0.5, 1.04)  # 0.5 and 1.04
    {'+-17': 1, '2': 1}
    >>> hist({"-17": 1, "2": 1}, -1.97, 1.04)  # -1.97 and 1.04
    {'-17': 1, '2': 1}
    >>> hist({"--17": 1, "-17": 1}, -0.5, 0.5)  # -0.5 and 0.5
    {'--17': 1, '+-17': 1}
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from typing import Any

from pilothouse.domain.metric_histogram import _TINY, OFFSET, Buckets, index_of, ordered
from pilothouse.domain.metric_minutes import decode, encode, kept_of, pack_codes, unpack_codes

#: the marker (``buckets``) of an item whose histograms are spelled as today
CURRENT = 5
#: the largest ``k`` of a positive value's index ``-k`` (the values below ``_TINY`` count as zero)
_SUB1_MAX = -index_of(_TINY)


def current(data: Mapping[str, Any]) -> bool:
    """Whether a stored item's histograms are spelled as today (layout version 5)."""
    return data.get("buckets", 4) >= CURRENT


def positive(k: int, low: float, high: float) -> bool:
    """Whether the ambiguous old bucket ``"-k"`` (``k > 0``) of an item of these exact min/max held
    positive values below 1 (see the module's docstring)."""
    if k > _SUB1_MAX or high <= 0:
        return False
    if low >= 0:
        return True
    if index_of(high) == -k:
        return True  # the max's bucket
    if index_of(-low) == k:
        return False  # the min's bucket
    fits_positive = index_of(high) >= -k  # a value of (GAMMA**(-k-1), GAMMA**-k] is <= max
    fits_negative = index_of(-low) >= k  # a value of [-GAMMA**k, -GAMMA**(k-1)) is >= min
    return fits_positive or not fits_negative


def hist(buckets: Mapping[str, int], low: float | None, high: float | None) -> Buckets:
    """An old histogram (string keys) in today's spelling and value order."""
    out: Buckets = {}
    for key, count in buckets.items():
        if low is not None and high is not None and key[0] == "-" and key[1] != "-":
            k = int(key[1:])
            if k > 0 and positive(k, low, high):
                key = f"+-{k}"
        out[key] = out.get(key, 0) + count
    return ordered(out)


def packed(text: str, count: int, low: float, high: float) -> tuple[str, list[float]]:
    """An old packed minute histogram in today's codes, and its kept percentiles read again."""
    codes, counts = unpack_codes(text)
    merged: dict[int, int] = {}
    for code, n in zip(codes, counts, strict=True):
        k = -code - OFFSET
        if code < 0 and k > 0 and positive(k, low, high):
            code = OFFSET - k
        merged[code] = merged.get(code, 0) + n
    keys = sorted(merged)
    figures = [merged[c] for c in keys]
    kept = kept_of(array("h", keys), figures, count, low, high) if count else [0.0, 0.0, 0.0]
    return pack_codes(keys, figures), kept


def columns(old: Mapping[str, Any]) -> dict[str, Any]:
    """A minute block's old columns in today's codes (its kept percentiles read again)."""
    minutes = {}
    for mm, (count, total, low, high, text, *_kept) in decode(old).items():
        text, kept = packed(text, count, low, high)
        minutes[mm] = (count, total, low, high, text, *kept)
    return encode(minutes)
