"""The direct mutation path (``runtime.direct_mutations``) answers, audits and stores what
Powertools' resolver does.

Two control planes start alike (each its own SQLite store, the same manual clock, the same keys).
The same requests, with the same request ids, go to one through Powertools' resolver only and to
the other through the handler (the direct path for what it covers). Status, headers and body
bytes must match request by request, and afterwards every stored item (records, events, audit
chain, idempotency records) must be the same in both stores."""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from pilothouse.api import components
from pilothouse.clock import ManualClock
from pilothouse.runtime import direct_mutations
from pilothouse.runtime.events import http_event
from pilothouse.runtime.http import http_function
from tests.support import bench
from tests.support.controlplane import ADMIN_KEY
from tests.support.specs import spec

VIEWER_KEY = "ph_viewer0000001_" + "v" * 32
JSON = {"content-type": "application/json"}
ADMIN = {"authorization": f"Bearer {ADMIN_KEY}", **JSON}
VIEWER = {"authorization": f"Bearer {VIEWER_KEY}", **JSON}
BROWSER = {**ADMIN, "accept-encoding": "gzip", "origin": "https://x"}


def _world(root: Path, monkeypatch) -> Path:
    """A control plane in ``root`` on a manual clock, with an admin and a viewer key."""
    from pilothouse.services.keys import create_key
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services, register_services

    monkeypatch.setenv("PILOTHOUSE_DATA_DIR", str(root))
    services = Services(get_settings(), ManualClock(1_800_000_000.0))
    register_services(services)
    create_key(services, name="admin", role="admin", created_by="t", key=ADMIN_KEY)
    create_key(services, name="viewer", role="viewer", created_by="t", key=VIEWER_KEY)
    return root


@pytest.fixture(
    params=[("false", False), ("true", False), ("false", True)],
    ids=["answers-unchecked", "answers-validated", "rate-limited"],
)
def worlds(env, monkeypatch, request):
    """(resolver-only data dir, handler data dir, the statuses the direct path answered)."""
    validation, limited = request.param
    monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", validation)
    if limited:  # the rate limiter on, its RateLimit headers in every answer
        monkeypatch.setenv("PILOTHOUSE_RATE_LIMITS", bench.GENEROUS_LIMITS)
    resolved = _world(env / "resolved", monkeypatch)
    direct = _world(env / "direct", monkeypatch)
    served: list[int] = []
    real = direct_mutations.DirectMutations.serve_event

    def spy(self, event, context):
        result = real(self, event, context)
        if result is not None:
            served.append(result["statusCode"])
        return result

    monkeypatch.setattr(direct_mutations.DirectMutations, "serve_event", spy)
    return resolved, direct, served


def _event(method: str, path: str, body: Any, headers: dict[str, str], n: int, **kw: Any) -> dict:
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    return http_event(method, path, headers=headers, body=text, request_id=f"req-{n:04d}", now=1.8e9, **kw)


def _stored(root: Path) -> list[tuple]:
    with sqlite3.connect(root / "state.db") as conn:
        return conn.execute("SELECT pk, sk, version, data, expires_at FROM items ORDER BY pk, sk").fetchall()


def _seeded(monkeypatch, world: Path, seed: int) -> None:
    """Requests go to ``world``; the ids the store makes (random suffixes) count from ``seed``."""
    counter = itertools.count(seed * 1000)
    monkeypatch.setenv("PILOTHOUSE_DATA_DIR", str(world))
    monkeypatch.setattr(secrets, "token_hex", lambda n=32: f"{next(counter):0{2 * n}x}")
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(counter)))


#: (method, path, body, headers, path parameters) of each request, in order
REQUESTS: list[tuple[str, str, Any, dict[str, str], dict[str, str] | None]] = [
    ("POST", "/v1/components", spec("web"), ADMIN, None),
    ("POST", "/v1/components", spec("web"), ADMIN, None),  # 409: registered already
    ("POST", "/v1/components", spec("Bad Name!"), ADMIN, None),  # 422 by Powertools
    ("POST", "/v1/components", spec("web2", extra=1), ADMIN, None),  # 422: unknown key
    ("POST", "/v1/components", spec("web2", config={"greeting": 5}), ADMIN, None),  # 422: config
    ("POST", "/v1/components", spec("web2"), VIEWER, None),
    ("POST", "/v1/components", spec("web2"), {"authorization": "Bearer ph_nope_" + "x" * 30, **JSON}, None),
    ("POST", "/v1/components", spec("web2"), JSON, None),  # 401: no key
    ("POST", "/v1/components", "{", ADMIN, None),
    ("POST", "/v1/components", "[]", ADMIN, None),
    ("POST", "/v1/components", "null", ADMIN, None),
    ("POST", "/v1/components", spec("web2"), {**ADMIN, "content-type": "text/plain"}, None),  # 415
    ("POST", "/v1/components", {**spec("web2"), "labels": {"x": "y" * 300_000}}, ADMIN, None),  # 413
    ("POST", "/v1/components", spec("web3"), {**ADMIN, "idempotency-key": "k1"}, None),
    ("POST", "/v1/components", spec("web3"), {**ADMIN, "idempotency-key": "k1"}, None),  # replay
    ("POST", "/v1/components", spec("web4"), {**ADMIN, "idempotency-key": "k1"}, None),  # other body
    ("POST", "/v1/components", spec("w\u00e9b"), ADMIN, None),  # a non-ASCII name
    ("POST", "/v1/components", spec("web5", labels={"team": "caf\u00e9 \u2603"}), ADMIN, None),
    ("POST", "/v1/components", spec("web6"), BROWSER, None),
    ("POST", "/v1/components", spec("web7"), {"Authorization": f"Bearer {ADMIN_KEY}"}, None),  # no type
    ("POST", "/v1/components/web/scale", {"replicas": 2}, ADMIN, {"name": "web"}),  # 409: registered
    ("POST", "/v1/components/web/scale", {"replicas": "x"}, ADMIN, {"name": "web"}),  # 422
    ("POST", "/v1/components/nope/scale", {"replicas": 2}, ADMIN, {"name": "nope"}),  # 404
    ("POST", "/v1/components/web/update", {"version": "2.0.0"}, ADMIN, {"name": "web"}),  # 409
    ("POST", "/v1/components/web/stop", {}, ADMIN, {"name": "web"}),  # 409
    ("POST", "/v1/components/web/stop", {}, VIEWER, {"name": "web"}),
    ("DELETE", "/v1/components/web2", None, ADMIN, {"name": "web2"}),  # no body: the resolver
    # targets and configs validated again (their checks kept), each provider's target as it dumps
    ("POST", "/v1/components", spec("web8", config={"greeting": 5}), ADMIN, None),  # 422: config
    ("POST", "/v1/components", spec("web8", target={"command": ["x"]}), ADMIN, None),  # 422: target
    ("POST", "/v1/components", spec("web8", target={"command": "x --port {port}"}), ADMIN, None),
    (
        "POST",
        "/v1/components",
        spec("web9", provider="aws-lambda", target={"function_name": "f", "health_url": "https://h.x/"}),
        ADMIN,
        None,
    ),
    (
        "POST",
        "/v1/components",
        spec("web10", provider="cloud-run", target={"service": "s", "region": "r"}),
        ADMIN,
        None,
    ),
    ("POST", "/v1/components", spec("web11", config={"greeting": {"$secret": "g"}}), ADMIN, None),
]


def test_every_mutation_answers_audits_and_stores_the_same_both_ways(worlds, monkeypatch):
    """Given two control planes alike, when the same requests reach one through the resolver and
    the other through the handler, then every answer is the same, byte for byte, and so is
    everything stored (records, events, the audit chain, idempotency records)."""
    resolved, direct, served = worlds
    handler = http_function(*components.OPERATIONS)
    from pilothouse.embedded.functions import LambdaContext

    for n, (method, path, body, headers, params) in enumerate(REQUESTS):
        event = _event(method, path, body, headers, n, path_parameters=params)
        _seeded(monkeypatch, resolved, n)
        a = handler.resolver.resolve(json.loads(json.dumps(event)), LambdaContext("f", 30))
        _seeded(monkeypatch, direct, n)
        b = handler(json.loads(json.dumps(event)), LambdaContext("f", 30))
        assert a == b, (n, method, path)
    assert _stored(resolved) == _stored(direct)
    # the direct path served the requests its plan passes (the 401/403/404/409 of a valid body
    # included); the bodies refused before parsing or by validation went to the resolver
    assert (
        served
        == [201, 409, 403, 401, 401, 201, 201, 409, 201, 201, 201, 201, 409, 404, 409, 409, 403] + [201] * 4
    )


def test_a_named_stage_and_a_base64_body_are_served_as_powertools_would(worlds, monkeypatch):
    resolved, direct, served = worlds
    handler = http_function(*components.OPERATIONS)
    from pilothouse.embedded.functions import LambdaContext

    body = base64.b64encode(json.dumps(spec("web")).encode()).decode()
    events = [
        {**_event("POST", "/v1/components", body, ADMIN, 1), "isBase64Encoded": True},
        _event("POST", "/prod/v1/components", spec("web8"), ADMIN, 2, stage="prod"),
    ]
    for n, event in enumerate(events):
        _seeded(monkeypatch, resolved, n)
        a = handler.resolver.resolve(json.loads(json.dumps(event)), LambdaContext("f", 30))
        _seeded(monkeypatch, direct, n)
        b = handler(json.loads(json.dumps(event)), LambdaContext("f", 30))
        assert a == b and a["statusCode"] == 201
    assert served == [201, 201]
    assert _stored(resolved) == _stored(direct)


def test_an_exception_escaping_the_guard_goes_to_the_resolvers_handlers(worlds, monkeypatch):
    """Given a guard that raises past its own error mapping, when a register comes in, then the
    direct path raises it as Powertools' resolver does (no handler is registered for it)."""
    from pilothouse.embedded.functions import LambdaContext
    from pilothouse.runtime.guard import Guard

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Guard, "run", broken)
    handler = http_function(*components.OPERATIONS)
    event = _event("POST", "/v1/components", spec("web"), ADMIN, 1)
    with pytest.raises(RuntimeError, match="boom"):
        handler.resolver.resolve(json.loads(json.dumps(event)), LambdaContext("f", 30))
    with pytest.raises(RuntimeError, match="boom"):
        handler(json.loads(json.dumps(event)), LambdaContext("f", 30))


def test_a_function_of_reads_only_never_loads_the_direct_mutation_path():
    """Given a function serving reads only, its handler answers every event with a body through
    the resolver without building the mutation path."""
    from pilothouse.api.component_reads import get_component
    from pilothouse.runtime.http import _event_mutations

    handler = http_function(get_component)
    assert _event_mutations(handler.resolver, [get_component])({"body": "{}"}, None) is None


def test_racing_registers_through_the_gateway_each_get_their_own_answer(api, monkeypatch):
    """Given the local gateway's function instances (threads of one process), when 8 threads
    register 48 components at once, each through the direct path, then every answer names the
    component of its own request and each component was registered once, by its own request."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", "false")
    served: list[int] = []
    real = direct_mutations.DirectMutations.serve_event

    def spy(self, event, context):
        result = real(self, event, context)
        served.append(result["statusCode"] if result else 0)
        return result

    monkeypatch.setattr(direct_mutations.DirectMutations, "serve_event", spy)

    def register(n: int) -> tuple[int, int, dict[str, str], dict]:
        status, headers, body = api.post("/v1/components", spec(f"race-{n:02d}"))
        return n, status, headers, body

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(register, range(48)))
    assert served == [201] * 48
    for n, status, headers, body in results:
        assert status == 201, (n, body)
        assert body["name"] == f"race-{n:02d}" and headers["location"] == f"/v1/components/race-{n:02d}"
    for n in range(48):
        events = api.get(f"/v1/components/race-{n:02d}/events")[2]["items"]
        assert [e["type"] for e in events] == ["registered"]
