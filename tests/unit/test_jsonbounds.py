"""The JSON depth bound: exact on any JSON text, linear on hostile text."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.jsonbounds import depth_exceeds

_tricky = st.text(alphabet='[]{}"\\ab\n', max_size=12)
_json = st.recursive(
    st.none() | st.integers() | _tricky,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_tricky, inner, max_size=3),
    max_leaves=30,
)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(_json, st.integers(min_value=0, max_value=6))
def test_depth_is_exact_whatever_the_strings_hold(value, limit):
    """Given any JSON value whose strings hold quotes, backslashes and brackets, then the bound
    agrees with the real nesting depth."""
    assert depth_exceeds(json.dumps(value), limit) == (_depth(value) > limit)


@pytest.mark.timeout(60)  # a hang guard, not a speed target: a backtracking pattern takes hours here
def test_hostile_text_is_scanned_in_linear_time():
    """Given 1 MiB of unterminated escaped quotes followed by brackets (quadratic for a
    backtracking string pattern), then the scan finishes and finds the string never closes."""
    body = '"' + '\\"' * 400_000 + "[" * 200
    assert depth_exceeds(body, 128) is False  # the brackets are inside the unterminated string
