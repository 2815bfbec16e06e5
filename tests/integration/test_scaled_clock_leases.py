"""Leases guard real work, so on a scaled clock (``pilothouse dev`` with PILOTHOUSE_CLOCK_SCALE) they
last as many real seconds as on the wall clock: a job's lease on its pending command, and the wait
before a command whose job never started counts as stalled."""

from __future__ import annotations

import time

import pytest

from pilothouse.clock import ScaledClock
from pilothouse.services import components, jobs
from tests.support import deploying
from tests.support.deploying import running

# the shared deployment fixtures (the clock below, fake revision provider, drain)
services, provider, run = deploying.services, deploying.provider, deploying.run

SCALE = 10


class Monotonic:
    """The monotonic clock, plus the real seconds a test says have passed."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.shift


@pytest.fixture
def mono():
    return Monotonic()


@pytest.fixture
def clock(mono):
    return ScaledClock(SCALE, monotonic=mono)


def test_a_jobs_lease_on_a_scaled_clock_lasts_the_real_seconds_it_guards(api, run, provider, services, mono):
    """Given web Running on a clock at 10x and a scale to 2 requested
    When its job takes the lease
    Then the lease runs provider_timeout x 2 + 60 real seconds (ten times that on the clock), so a
    slow real scale is not taken for a dead worker's; and the command is not stalled after 30
    clock seconds (3 real ones) without a lease; once the lease's real seconds have passed, the
    stalled-job sweep takes the command up again and it completes."""
    running(api, run)
    assert api.post("/v1/components/web/scale", {"replicas": 2})[0] == 202
    record = components.repo(services).require("web")
    op = record.data["operation"]
    assert jobs.sweep_stalled(services) == []
    mono.shift += 3.1  # 31 clock seconds
    assert jobs.sweep_stalled(services) == []  # a command is stalled after 30 real s, not clock s
    leased = jobs._lease(services, record, op["id"])
    assert leased is not None
    real = services.settings.provider_timeout_seconds * 2 + 60
    left = leased.data["operation"]["lease_until"] - services.clock.time()
    assert real * SCALE - 5 <= left <= real * SCALE
    run()  # the job finds the lease live: a worker (this test) holds it
    assert api.get("/v1/components/web")[2]["state"] == "Scaling"
    mono.shift += real + 1  # the lease's real seconds pass: the worker is taken for dead
    assert jobs.sweep_stalled(services) == ["web"]
    run()
    assert (comp := api.get("/v1/components/web")[2])["state"] == "Running" and comp["replicas"] == 2
