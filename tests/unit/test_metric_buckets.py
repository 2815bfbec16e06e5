"""The histogram's bucket spelling (layout version 5): a positive value below 1, a negative value and
zero never share a key or a code, buckets sort in value order and percentiles of any mix of signs
and magnitudes read within the sketch's accuracy; old (version 4) histograms read back right."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.domain import metric_legacy, metric_minutes
from pilothouse.domain.metric_histogram import (
    ACCURACY,
    MAX_BUCKETS,
    OFFSET,
    TOP_INDEX,
    add,
    bucket_code,
    bucket_key,
    ordered,
    percentile,
    value_of,
)
from pilothouse.domain.metric_minutes import kept_of, pack, unpack, unpack_codes
from tests.support.metric_buckets_v4 import old_code, old_key

#: magnitudes a datapoint may have (services.metrics): negative, sub-1, around 1 and large values
_MAGNITUDE = st.one_of(
    st.floats(min_value=1e-6, max_value=0.999),
    st.floats(min_value=0.999, max_value=10.0),
    st.floats(min_value=10.0, max_value=1e12),
)
_VALUE = st.one_of(_MAGNITUDE, _MAGNITUDE.map(lambda m: -m), st.just(0.0))


def _sample(values: list[float], q: float) -> float:
    """The sample percentile the histogram answers for: the value at rank floor(q/100 * (n-1))."""
    return sorted(values)[math.floor(q / 100 * (len(values) - 1))]


def test_sub_1_percentiles_read_their_own_values():
    """Given 0.2, 0.5, 0.9 and 5 (the reported bug: every quartile read 0.2), Then the quartiles
    are 0.2, 0.5 and 0.9 within 2 %."""
    hist: dict[str, int] = {}
    for v in (0.2, 0.5, 0.9, 5.0):
        add(hist, v)
    assert bucket_key(0.5) != bucket_key(-1.97) and bucket_code(0.5) != bucket_code(-1.97)
    for q, want in ((0, 0.2), (25, 0.2), (50, 0.5), (75, 0.9), (100, 5.0)):
        got = percentile(hist, q, low=0.2, high=5.0)
        assert got is not None and abs(got - want) <= want * ACCURACY


def test_codes_keep_the_sign_and_never_leave_int16_for_any_finite_value():
    """The largest finite float, the smallest non-zero, both signs: codes are in int16, a positive
    value's code positive, a negative value's negative, and keys and codes round-trip."""
    for v in (1.7976931348623157e308, 1e300, 1e284, 2.0**360, 1.0, 0.99, 1e-9 * 1.001, 5e-324):
        for value in (v, -v):
            code = bucket_code(value)
            assert -32767 <= code <= 32767
            if abs(value) >= 1e-9:
                assert (code > 0) == (value > 0)
            assert metric_minutes._code(bucket_key(value)) == code
            assert metric_minutes._key(code) == bucket_key(value)
    assert bucket_code(1.7976931348623157e308) == OFFSET + TOP_INDEX == 32767  # clamped to the top


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALUE, min_size=1, max_size=200), st.floats(min_value=0, max_value=100))
def test_percentile_of_any_mix_is_within_accuracy_of_the_sample(values, q):
    """Given any mix of negative, sub-1, around-1 and large values (and zeros), Then a percentile
    read from the buckets, the ordered buckets and the packed minute, is within ACCURACY of the
    sample's value at that rank."""
    hist: dict[str, int] = {}
    for v in values:
        add(hist, v)
    low, high = min(values), max(values)
    want = _sample(values, q)
    tolerance = abs(want) * ACCURACY + 1e-9
    for got in (
        percentile(hist, q, low=low, high=high),
        percentile(ordered(hist), q, low=low, high=high, in_order=True),
        percentile(unpack(pack(ordered(hist))), q, low=low, high=high, in_order=True),
    ):
        assert got is not None and abs(got - want) <= tolerance


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALUE, min_size=1, max_size=100, unique=True))
def test_distinct_buckets_have_distinct_codes_in_value_order(values):
    """Codes and keys name the same buckets (one to one), and sort like the values they hold."""
    by_key = {bucket_key(v): bucket_code(v) for v in values}
    assert len(set(by_key.values())) == len(by_key)
    for v in values:
        assert by_key[bucket_key(v)] == bucket_code(v)
    ranked = sorted(values)
    codes = [bucket_code(v) for v in ranked]
    assert codes == sorted(codes)
    keys = list(ordered({bucket_key(v): 1 for v in values}, limit=10_000))
    assert [metric_minutes._code(k) for k in keys] == sorted(set(codes))
    assert [value_of(k) for k in keys] == sorted(value_of(k) for k in keys)


@settings(max_examples=200, deadline=None)
@given(st.lists(_VALUE, min_size=1, max_size=60))
def test_kept_percentiles_of_codes_match_the_keys_reading(values):
    hist: dict[str, int] = {}
    for v in values:
        add(hist, v)
    low, high = min(values), max(values)
    codes, counts = unpack_codes(pack(ordered(hist, limit=MAX_BUCKETS)))
    kept = kept_of(codes, counts, len(values), low, high)
    assert kept == [percentile(hist, q, low=low, high=high) for q in metric_minutes.KEPT]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(_MAGNITUDE, min_size=1, max_size=50),  # all positive
        st.lists(_MAGNITUDE.map(lambda m: -m), min_size=1, max_size=50),  # all negative
    ),
    st.floats(min_value=0, max_value=100),
)
def test_a_version_4_histogram_of_one_sign_reads_back_exactly(values, q):
    """Given an old histogram (keys and packed codes) of values of one sign, Then respelled it is
    the histogram of today's spelling, and its kept percentiles are read again."""
    old_keys: dict[str, int] = {}
    old_codes: dict[int, int] = {}
    new: dict[str, int] = {}
    for v in values:
        old_keys[old_key(v)] = old_keys.get(old_key(v), 0) + 1
        old_codes[old_code(v)] = old_codes.get(old_code(v), 0) + 1
        add(new, v)
    low, high = min(values), max(values)
    assert metric_legacy.hist(old_keys, low, high) == ordered(new)
    codes = sorted(old_codes)
    text = metric_minutes.pack_codes(codes, [old_codes[c] for c in codes])
    respelled, kept = metric_legacy.packed(text, len(values), low, high)
    assert unpack(respelled) == ordered(new)
    assert kept == [percentile(new, k, low=low, high=high) for k in metric_minutes.KEPT]


def test_a_version_4_histogram_of_both_signs_is_decided_by_its_min_and_max():
    """Both signs: "-k" is negative when only the min reaches bucket k, positive below 1 when
    only the max reaches it, positive when both could (documented: negatives are rare)."""
    # the min's bucket (-1.97: 17) is negative, the max's (0.5: -17) positive
    assert metric_legacy.hist({"-17": 1, "z": 1, "3": 1}, -1.97, 1.06) == {"-17": 1, "z": 1, "3": 1}
    assert metric_legacy.hist({"--40": 1, "-17": 1}, -0.2, 0.5) == {"--40": 1, "+-17": 1}
    assert metric_legacy.hist({"-41": 1, "-17": 1}, -5.0, 0.5) == {"-41": 1, "+-17": 1}
    # only the negative reading fits: the max 0.1 (bucket -58) is below 0.5 (bucket -17)
    assert metric_legacy.hist({"-41": 1, "-17": 1, "-58": 1}, -5.0, 0.1) == {"-41": 1, "-17": 1, "+-58": 1}
    # only the positive reading fits: the min -1.5 (bucket 11) is above -1.97 (bucket 17)
    assert metric_legacy.hist({"-11": 1, "-17": 1, "41": 1}, -1.5, 5.0) == {"-11": 1, "+-17": 1, "41": 1}
    # both fit (min -5, max 5): positive below 1
    assert metric_legacy.hist({"-41": 1, "-17": 1, "41": 1}, -5.0, 5.0) == {"-41": 1, "+-17": 1, "41": 1}
    # "-600": no positive value is that small, so negative whatever the min/max
    assert metric_legacy.hist({"-600": 1}, 0.0, 1.0) == {"-600": 1}
