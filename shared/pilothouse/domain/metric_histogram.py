"""A mergeable histogram with a bounded relative error (the DDSketch idea), pure.

Values fall into logarithmic buckets: bucket ``i`` holds the positive values in
``(gamma**(i-1), gamma**i]`` with ``gamma = (1 + a) / (1 - a)``, so any percentile read back from the
buckets is within ``a`` (2 %) of a true sample value. Two histograms merge by adding their bucket
counts, which is what makes per-minute rollups add up to hours and days with honest percentiles.

Buckets are kept as a JSON-friendly dict keyed by a sign and the bucket's index: ``"12"`` for
positive bucket 12, ``"+-17"`` for positive bucket -17 (a value below 1, here 0.5), ``"-12"`` for
the negative value mirrored into bucket 12, ``"--17"`` for -0.5, ``"z"`` for zero. A key starting
with ``-`` is always a negative value (layout version 5; before it a positive value below 1 was
spelled ``"-17"`` too, :mod:`pilothouse.domain.metric_legacy`).

    >>> h = {}
    >>> for v in range(1, 101):
    ...     add(h, float(v))
    >>> abs(percentile(h, 50, low=1.0, high=100.0) - 50) <= 50 * ACCURACY
    True
    >>> abs(percentile(merge(dict(h), h), 99, low=1.0, high=100.0) - 99) <= 99 * ACCURACY
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: relative accuracy of every percentile read from the buckets
ACCURACY = 0.02
GAMMA = (1 + ACCURACY) / (1 - ACCURACY)
_LOG_GAMMA = math.log(GAMMA)
#: values closer to zero than this count as zero
_TINY = 1e-9

Buckets = dict[str, int]


#: the bucket keys of values seen lately (counts like 1.0 recur; kept small)
_recent: dict[float, str] = {}


def bucket_key(value: float) -> str:
    """The key of the bucket ``value`` falls into."""
    key = _recent.get(value)
    if key is None:
        if len(_recent) >= 4096:
            _recent.clear()
        key = _recent[value] = _bucket_key(value)
    return key


#: a bucket's number (:func:`bucket_code`): ``OFFSET + i`` for positive bucket ``i``
OFFSET = 16384
#: the bucket indexes kept: ``0 < OFFSET + i <= 32767``, so a code is never 0 for a value that is
#: not, keeps its value's sign, and fits the int16 a minute packs. The smallest index any value
#: reaches is -518 (``_TINY``); the largest finite floats (about 1.8e308, index 17,745) would pass
#: the top, so the index is clamped there: every value above ``GAMMA ** 16383`` (about 1e284)
#: shares the top bucket (the ingest takes magnitudes up to 2**360 only, index 6,238)
TOP_INDEX = 32767 - OFFSET
BOTTOM_INDEX = 1 - OFFSET


def index_of(magnitude: float) -> int:
    """The bucket index of a magnitude (``> _TINY``), clamped to the kept range."""
    index = math.ceil(math.log(magnitude) / _LOG_GAMMA)
    return TOP_INDEX if index > TOP_INDEX else BOTTOM_INDEX if index < BOTTOM_INDEX else index


def _bucket_key(value: float) -> str:
    if -_TINY < value < _TINY:
        return "z"
    if value > 0:
        index = index_of(value)
        return str(index) if index >= 0 else f"+{index}"
    return f"-{index_of(-value)}"


#: the bucket numbers of values seen lately
_recent_codes: dict[float, int] = {}


def bucket_code(value: float) -> int:
    """The bucket ``value`` falls into as a number, :func:`bucket_key` spelled as a stored minute
    packs it (:mod:`pilothouse.domain.metric_minutes`), in the order of :func:`ordered`: ``0`` for
    ``"z"``, ``OFFSET + i`` for ``"i"`` and ``"+i"``, ``-(OFFSET + i)`` for ``"-i"``; computed
    without the string. A positive value's code is positive, a negative value's negative.

    >>> [bucket_code(v) for v in (-2.0, -0.5, 0.0, 0.5, 1.0, 2.0)] == [-16402, -16367, 0, 16367, 16384, 16402]
    True
    >>> bucket_code(2.0) == OFFSET + int(bucket_key(2.0)), bucket_code(-2.0) == -bucket_code(2.0)
    (True, True)
    """
    code = _recent_codes.get(value)
    if code is None:
        if len(_recent_codes) >= 4096:
            _recent_codes.clear()
        if -_TINY < value < _TINY:
            code = 0
        elif value > 0:
            code = OFFSET + index_of(value)
        else:
            code = -(OFFSET + index_of(-value))
        _recent_codes[value] = code
    return code


def add(buckets: Buckets, value: float, count: int = 1) -> None:
    """Count ``value`` (``count`` times) into ``buckets`` in place."""
    key = bucket_key(value)
    buckets[key] = buckets.get(key, 0) + count


def merge(into: Buckets, other: Mapping[str, int]) -> Buckets:
    """Add ``other``'s counts into ``into`` (in place) and return it."""
    for key, count in other.items():
        into[key] = into.get(key, 0) + count
    return into


def _representative(key: str) -> float:
    if key == "z":
        return 0.0
    negative = key[0] == "-"
    index = int(key[1:] if negative or key[0] == "+" else key)
    # the middle of (gamma**(i-1), gamma**i] in relative terms
    value = 2 * GAMMA**index / (GAMMA + 1)
    return -value if negative else value


def _order(key: str) -> tuple[int, int]:
    """Sorts keys by the values they hold: negatives (largest index first), zero, positives."""
    if key == "z":
        return (1, 0)
    if key[0] == "-":
        return (0, -int(key[1:]))
    if key[0] == "+":
        return (2, int(key[1:]))
    return (2, int(key))


#: each bucket key's place in value order, as computed once (there are a few thousand at most)
_places: dict[str, tuple[int, int]] = {}


def _place(key: str) -> tuple[int, int]:
    place = _places.get(key)
    if place is None:
        place = _places[key] = _order(key)
    return place


#: buckets one stored histogram keeps at most: beyond, the lowest collapse into one (DDSketch's
#: bound), so a minute's rollup stays small whatever values a sender spreads over it (an hour's
#: block of 60 minutes stays well under a DynamoDB item's 400 KB); the high percentiles, which
#: alerts and scaling read, keep their accuracy
MAX_BUCKETS = 400


def ordered(buckets: Mapping[str, int], limit: int = MAX_BUCKETS) -> Buckets:
    """The buckets in the order of the values they hold (how rollups are stored, so that reading a
    percentile of one stored rollup needs no sort), at most ``limit`` of them: the lowest are
    counted into the lowest one kept.

    >>> ordered({"3": 1, "1": 2, "-2": 1, "2": 5}, limit=3)
    {'1': 3, '2': 5, '3': 1}
    """
    if len(buckets) < 2:
        return dict(buckets)
    try:
        keys = sorted(buckets, key=_places.__getitem__)  # every key seen before: no Python call each
    except KeyError:
        keys = sorted(buckets, key=_place)
    if len(keys) > limit:
        cut = len(keys) - limit
        out = {keys[cut]: sum(buckets[k] for k in keys[: cut + 1])}
        out.update((key, buckets[key]) for key in keys[cut + 1 :])
        return out
    return {key: buckets[key] for key in keys}


def percentile(
    buckets: Mapping[str, int],
    q: float,
    *,
    low: float,
    high: float,
    in_order: bool = False,
    total: int | None = None,
) -> float | None:
    """The ``q``-th percentile (0..100) of the counted values, clamped to the exact ``low``/``high``
    the rollup kept; None when nothing was counted. ``in_order``: the keys are :func:`ordered`;
    ``total``: the buckets' sum where the caller knows it (a rollup's count)."""
    if total is None:
        total = sum(buckets.values())
    if total <= 0:
        return None
    if q <= 0:
        return low
    if q >= 100:
        return high
    rank = q / 100 * (total - 1)
    pairs: Any = buckets.items() if in_order else [(k, buckets[k]) for k in sorted(buckets, key=_place)]
    if q > 50:  # walk from the top: a high percentile is a few buckets down
        above = total  # values in this bucket and below
        for key, count in reversed(pairs):
            if above - count <= rank:
                return min(max(value_of(key), low), high)
            above -= count
        return low
    seen = 0
    for key, count in pairs:
        seen += count
        if seen > rank:
            return min(max(value_of(key), low), high)
    return high


#: each bucket's representative value, as computed once
_values: dict[str, float] = {}


def value_of(key: str) -> float:
    """The value a bucket stands for in a percentile (the middle of its range, relatively)."""
    value = _values.get(key)
    if value is None:
        value = _values[key] = _representative(key)
    return value
