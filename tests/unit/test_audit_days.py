"""The day an audit record belongs to (its shard), spelled once per day."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.services.audit import day_of

_around_midnight = st.builds(
    lambda day, offset: day * 86400 + offset,
    st.integers(min_value=-1000, max_value=40000),
    st.sampled_from([-1e-6, -0.0005, 0.0, 1e-9, 1e-6, 0.5, 86399.999999]),
)


@settings(max_examples=500, deadline=None)
@given(_around_midnight | st.floats(min_value=-1e10, max_value=4e10))
def test_day_of_is_the_utc_day_strftime_names(now):
    """Given any time (either side of midnight too, and in turn with its neighbours, so the kept
    day is both hit and replaced), its day is what time.strftime names for it."""
    for t in (now, now - 86400, now):
        assert day_of(t) == time.strftime("%Y-%m-%d", time.gmtime(t))
