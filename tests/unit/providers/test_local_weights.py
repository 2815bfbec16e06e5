"""The local provider's traffic split by replica counts (rolling deployments)."""

from __future__ import annotations

import pytest

from pilothouse.providers.local.revision_set import proportional as _proportional


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"a": 1}, {"a": 100}),
        ({"a": 3, "b": 1}, {"a": 75, "b": 25}),
        ({"a": 2, "b": 1}, {"a": 67, "b": 33}),
        ({"a": 1, "b": 1, "c": 1}, {"a": 34, "b": 33, "c": 33}),
        ({"a": 0, "b": 2}, {"a": 0, "b": 100}),
        ({"a": 1, "b": 6}, {"a": 14, "b": 86}),
    ],
)
def test_proportional_whole_percentages_sum_to_100(counts: dict[str, int], expected: dict[str, int]) -> None:
    """Given replica counts per revision
    When they are turned into weights
    Then each weight is a whole percentage near its share and the weights sum to 100."""
    assert _proportional(counts) == expected
    assert sum(expected.values()) == 100


def test_proportional_without_replicas_is_none() -> None:
    """Given no replica anywhere, when weights are asked for, then None (keep the old ones)."""
    assert _proportional({"a": 0, "b": 0}) is None
