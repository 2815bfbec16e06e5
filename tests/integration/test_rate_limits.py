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
