"""Profiles of the warm get_component handler (in process, SQLite): where its time goes.

Not a benchmark of its own (test_bench_handlers.py measures it against the anchor): each test
prints the costliest functions (PROFILE_ROWS, by own and by cumulative time) over BENCH_N calls,
with the rate limiter on (as production runs it) and off (as the suite runs it). PROFILE_DUMP names a
directory to keep each profile in (pstats files).
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats

import pytest

from pilothouse.runtime.events import http_event
from tests.support import bench
from tests.support.specs import spec

N = int(os.environ.get("BENCH_N", "2000"))
ROWS = int(os.environ.get("PROFILE_ROWS", "25"))


def _setup(monkeypatch, limiter: str) -> None:
    monkeypatch.delenv("PILOTHOUSE_STORE_TRANSACTION_SCOPE", raising=False)
    monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", "false")
    if limiter == "on":
        monkeypatch.setenv("PILOTHOUSE_RATE_LIMITS", bench.GENEROUS_LIMITS)


def _print(profile: cProfile.Profile, title: str) -> None:
    if dump := os.environ.get("PROFILE_DUMP"):  # a directory: one pstats file per profile, to dig into
        profile.dump_stats(os.path.join(dump, "".join(c if c.isalnum() else "_" for c in title) + ".pstats"))
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(ROWS)
        print(f"\n== {title}, by {order}\n{out.getvalue()}")


@pytest.mark.parametrize("limiter", ["on", "off"])
def test_profile_get(pool, admin_key, monkeypatch, limiter):
    """BENCH_N warm get_component calls one after another (nothing written in between)."""
    from pilothouse.embedded.functions import LambdaContext, load_module

    _setup(monkeypatch, limiter)
    auth = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
    body = json.dumps(spec("seed001"))
    pool.invoke("RegisterComponentFunction", http_event("POST", "/v1/components", headers=auth, body=body))
    fn = load_module(pool.functions["GetComponentFunction"])
    event = http_event("GET", "/v1/components/seed001", headers=auth, path_parameters={"name": "seed001"})
    for _ in range(20):
        assert fn(event, LambdaContext("get", 30))["statusCode"] == 200
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(N):
        fn(event, LambdaContext("get", 30))
    profile.disable()
    _print(profile, f"get_component, rate limiter {limiter}")


@pytest.mark.parametrize("limiter", ["on", "off"])
def test_profile_get_interleaved(pool, admin_key, monkeypatch, limiter):
    """The get calls of test_handler_latency's loop only, interleaved as there with the anchor,
    list and register (so the store is written between two gets)."""
    from pilothouse.embedded import functions

    _setup(monkeypatch, limiter)
    profile = cProfile.Profile()
    get = functions.load_module(pool.functions["GetComponentFunction"])
    load = functions.load_module

    def profiled(event, context):
        profile.enable()
        try:
            return get(event, context)
        finally:
            profile.disable()

    monkeypatch.setattr(bench, "N", N)
    monkeypatch.setattr(
        functions,
        "load_module",
        lambda fn: profiled if fn is pool.functions["GetComponentFunction"] else load(fn),
    )
    bench.handler_latency(pool, admin_key, prefix=f"profile{limiter}")
    _print(profile, f"get_component interleaved, rate limiter {limiter}")


@pytest.mark.parametrize("limiter", ["on", "off"])
def test_profile_register(pool, admin_key, monkeypatch, limiter):
    """BENCH_N warm register_component calls one after another, each of a new component, on a store
    already holding 50 (as test_handler_latency's register)."""
    from pilothouse.embedded.functions import LambdaContext, load_module

    _setup(monkeypatch, limiter)
    auth = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}
    fn = load_module(pool.functions["RegisterComponentFunction"])

    def register(name: str) -> None:
        event = http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec(name)))
        assert fn(event, LambdaContext("register", 30))["statusCode"] == 201

    for i in range(50):
        register(f"seed{i:03d}")
    bodies = [f"r{limiter}{i:05d}" for i in range(N)]
    profile = cProfile.Profile()
    profile.enable()
    for name in bodies:
        register(name)
    profile.disable()
    _print(profile, f"register_component, rate limiter {limiter}")
