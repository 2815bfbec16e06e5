"""Rate limits: token buckets per principal and operation class, in the store (issue 18 §3)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from pilothouse.domain.security import Principal, Role
from pilothouse.errors import TooManyRequests
from pilothouse.services.ratelimits import limit
from tests.support.specs import spec

RULES = {
    "rules": [
        {"operation_class": "mutations", "role": "deployer", "rate": 0.5, "burst": 3},
        {"operation_class": "mutations", "principal": "key:0123456789ab", "rate": 100, "burst": 100},
        {"operation_class": "reads", "rate": 1, "burst": 5},
    ]
}


@pytest.fixture
def limited(env, monkeypatch):
    monkeypatch.setenv("PILOTHOUSE_RATE_LIMITS", json.dumps(RULES))


def test_over_the_limit_is_429_with_retry_after_and_ratelimit_headers(limited, api):
    """Given deployers may make 3 mutations (refilled at one per 2 s), When a deployer key makes a
    4th at once, Then 429 problem+json with Retry-After and the IETF headers, audited; its reads
    count against another bucket, and the admin key's own rule is larger."""
    deployer = api.post("/v1/api-keys", {"name": "d", "role": "deployer"})[2]["key"]
    for n in range(3):
        status, headers, _ = api.post("/v1/components", spec(f"c{n}"), key=deployer)
        assert status == 201
        assert headers["ratelimit-policy"] == '"mutations";q=3;w=6'
        assert headers["ratelimit"].startswith(f'"mutations";r={2 - n};')
    status, headers, problem = api.post("/v1/components", spec("c9"), key=deployer)
    assert status == 429 and headers["content-type"] == "application/problem+json", problem
    assert headers["retry-after"] == "2" and headers["ratelimit"].startswith('"mutations";r=0;')
    assert problem["operation_class"] == "mutations" and "retry in 2 s" in problem["detail"]
    assert api.get("/v1/components", key=deployer)[0] == 200  # reads: their own bucket
    for n in range(5):  # the admin key's own rule: 100
        assert api.post("/v1/components", spec(f"a{n}"))[0] == 201
    audited = api.get("/v1/audit", query="operation=register_component&limit=100")[2]["items"]
    assert any(r["status"] == 429 for r in audited)


def test_buckets_refill_with_time(limited, manual_services, clock):
    """Given an empty bucket, When the refill time passes, Then a token is there again."""
    who = Principal(id="key:x", name="x", role=Role.DEPLOYER)
    for _ in range(3):
        limit(manual_services, who, operation="register_component", method="POST")
    with pytest.raises(TooManyRequests):
        limit(manual_services, who, operation="register_component", method="POST")
    clock.advance(2)
    assert limit(manual_services, who, operation="register_component", method="POST")["RateLimit"].startswith(
        '"mutations";r=0'
    )


def test_racing_instances_never_grant_more_than_the_burst(limited, manual_services):
    """Given a bucket of 5 reads and a stopped clock, When 24 requests race from 8 threads (as
    instances would, through the one store), Then exactly 5 pass."""
    who = Principal(id="key:racer", name="r", role=Role.VIEWER)

    def one(_):
        try:
            limit(manual_services, who, operation="list_components", method="GET")
            return True
        except TooManyRequests:
            return False

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(24)))
    assert results.count(True) == 5


def test_limits_are_off_when_disabled(env, monkeypatch, manual_services):
    monkeypatch.setenv("PILOTHOUSE_RATE_LIMITS", json.dumps({"enabled": False}))
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services

    services = Services(get_settings())
    who = Principal(id="key:x", name="x", role=Role.VIEWER)
    assert all(limit(services, who, operation="list_components", method="GET") == {} for _ in range(50))


def test_bad_settings_name_the_field():
    from pilothouse.errors import ConfigurationError
    from pilothouse.settings import Settings

    with pytest.raises(ConfigurationError, match="PILOTHOUSE_RATE_LIMITS"):
        Settings.from_environ(
            {"PILOTHOUSE_RATE_LIMITS": '{"rules": [{"operation_class": "x", "rate": 1, "burst": 1}]}'}
        )


def test_the_cli_waits_and_retries_when_told(monkeypatch):
    """Given an API that answers 429 with Retry-After twice, Then the CLI's client waits as told and
    sends the same request (the same Idempotency-Key) again until it passes."""
    from pilothouse.cli import client as client_module

    seen: list[str] = []
    waits: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["idempotency-key"])
        if len(seen) < 3:
            return httpx.Response(429, headers={"Retry-After": "2"}, json={"title": "Too many requests"})
        return httpx.Response(201, json={"ok": True})

    monkeypatch.setattr(client_module, "SLEEP", waits.append)
    with client_module.Client("http://api.test", "k", transport=httpx.MockTransport(handler)) as client:
        assert client.post("/v1/components", {}) == {"ok": True}
    assert waits == [2.0, 2.0] and len(set(seen)) == 1 and len(seen) == 3


def test_the_cli_gives_up_on_a_long_wait(monkeypatch):
    from pilothouse.cli import client as client_module

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, headers={"Retry-After": "3600"}, json={"title": "Too many", "detail": "later"}
        )

    client = client_module.Client("http://api.test", "k", transport=httpx.MockTransport(handler))
    with client, pytest.raises(client_module.ApiError) as info:
        client.get("/v1/components")
    assert info.value.status == 429


LARGE = {"rules": [{"operation_class": "reads", "rate": 1, "burst": 640}]}  # leases of 10 tokens


@pytest.fixture
def two_instances(env, monkeypatch, clock):
    """Two instances of the control plane (each its own store object, as two processes have) on
    one SQLite file, with a large reads bucket (taken from in leases) and a stopped clock."""
    from pilothouse.services.ratelimits import forget_leases
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services

    monkeypatch.setenv("PILOTHOUSE_RATE_LIMITS", json.dumps(LARGE))
    forget_leases()
    a, b = Services(get_settings(), clock), Services(get_settings(), clock)
    assert a.store is not b.store
    yield a, b
    a.close()
    b.close()
    forget_leases()


def test_a_flood_across_two_instances_is_refused_at_the_burst(two_instances):
    """Given a bucket of 640 reads that two instances take from in leases of 10, When a flood of
    reads alternates between them (the clock stopped), Then exactly 640 pass, and the rest are 429
    on both instances."""
    a, b = two_instances
    who = Principal(id="key:flood", name="f", role=Role.VIEWER)
    passed = {"a": 0, "b": 0}
    refused = {"a": 0, "b": 0}
    for n in range(1000):
        name, services = ("a", a) if n % 2 == 0 else ("b", b)
        try:
            limit(services, who, operation="list_components", method="GET")
            passed[name] += 1
        except TooManyRequests as exc:
            refused[name] += 1
            assert exc.headers["RateLimit"].startswith('"reads";r=0;')
    assert passed["a"] + passed["b"] == 640 and refused["a"] > 0 and refused["b"] > 0


def test_a_lease_writes_the_bucket_once_per_lease(two_instances):
    """Given a bucket taken from in leases of 10, When one instance takes 25 tokens, Then the
    bucket was written three times, and the headers count the lease's tokens as remaining."""
    from pilothouse.repositories.ratelimits import RateBucketRepository

    a, _ = two_instances
    who = Principal(id="key:lease", name="l", role=Role.VIEWER)
    answers = [limit(a, who, operation="get_component", method="GET") for _ in range(25)]
    item = RateBucketRepository(a.store).get(who.id, "reads")
    assert item is not None and item.version == 3 and item.data["tokens"] == 610
    assert [h["RateLimit"].split(";")[1] for h in answers[:2]] == ["r=639", "r=638"]
    assert answers[-1]["RateLimit"].startswith('"reads";r=615;')
    assert answers[0]["RateLimit-Policy"] == '"reads";q=640;w=640'


def test_unspent_lease_tokens_go_back_to_the_bucket(two_instances, clock):
    """Given an instance that took a lease of 10 and spent 1, When it comes back after the lease's
    time, Then the 9 unspent tokens went back to the bucket before the next lease was taken."""
    from pilothouse.domain.ratelimits import LEASE_SECONDS
    from pilothouse.repositories.ratelimits import RateBucketRepository

    a, b = two_instances
    who = Principal(id="key:back", name="b", role=Role.VIEWER)
    limit(a, who, operation="get_component", method="GET")
    assert RateBucketRepository(a.store).get(who.id, "reads").data["tokens"] == 630
    limit(b, who, operation="get_component", method="GET")  # the other instance's own lease
    clock.advance(LEASE_SECONDS + 0.5)
    limit(a, who, operation="get_component", method="GET")
    # 620 left, refilled to the burst at most (1.5 s at 1 a second), 9 handed back, 10 taken
    assert RateBucketRepository(a.store).get(who.id, "reads").data["tokens"] == 620 + 1.5 + 9 - 10


def test_racing_threads_of_one_instance_share_its_lease(two_instances):
    """Given a bucket of 640 reads in leases of 10 and a stopped clock, When 1000 requests race from
    8 threads of each of two instances, Then exactly 640 pass."""
    a, b = two_instances
    who = Principal(id="key:racers", name="r", role=Role.VIEWER)

    def one(n):
        try:
            limit(a if n % 2 else b, who, operation="list_components", method="GET")
            return True
        except TooManyRequests:
            return False

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(1000)))
    assert results.count(True) == 640
