"""Fixtures for the engine conformance tests."""

from __future__ import annotations

import pytest
from tests.support.engine import T0, echo

from pilothouse.engine import VirtualClock, run


@pytest.fixture
def clock():
    """A virtual clock starting at T0."""
    return VirtualClock(T0)


@pytest.fixture
def go(clock):
    """Run a definition on the virtual clock: go(defn, input, invoke=...)."""

    def _go(definition, input=None, invoke=echo, **kw):
        return run(definition, input, invoke=invoke, clock=clock, **kw)

    return _go
