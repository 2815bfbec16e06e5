"""The direct read path (``runtime.http_direct``) answers what Powertools' resolver answers.

Every read route of template.yaml is called three ways over the same store, with the same request
ids: as an event resolved by Powertools, as an event a handler serves directly (what a function
does with a bodiless read in the cloud: :meth:`~pilothouse.runtime.http_direct.DirectReads.serve_event`),
and as the local gateway's request served without an event
(:meth:`~pilothouse.runtime.http_direct.DirectReads.serve`). Status, headers and body bytes must
match, and both direct paths must have served the plain reads themselves (they hand the rest back)."""

from __future__ import annotations

import json
import re

import pytest

from pilothouse.embedded.functions import FunctionPool
from pilothouse.embedded.gateway import LocalGateway
from pilothouse.runtime import http_direct
from tests.support.specs import spec

SCHEMA = {"type": "object", "properties": {"port": {"type": "integer", "default": 80}}}


@pytest.fixture
def gateways(cloud, services, admin_key, monkeypatch):
    """(event path, direct path) gateways over one store, answers not validated (production's
    default), and the list the direct path's answers are recorded in."""
    monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", "false")
    from pilothouse.services import components, config

    components.register(services, components.parse_spec(spec("web", config_schema=SCHEMA)), actor="t")
    config.set_config(services, "web", values={"port": 8080, "s": "h\u00e9 \u2603"}, message="m", actor="t")
    served: list[int] = []
    real, real_event = http_direct.DirectReads.serve, http_direct.DirectReads.serve_event

    def spy(self, request):
        result = real(self, request)
        if result is not None:
            served.append(result["statusCode"])
        return result

    def event_spy(self, event):
        if RESOLVER_ONLY:
            return None
        result = real_event(self, event)
        if result is not None:
            SERVED_EVENTS.append(result["statusCode"])
        return result

    monkeypatch.setattr(http_direct.DirectReads, "serve", spy)
    monkeypatch.setattr(http_direct.DirectReads, "serve_event", event_spy)
    SERVED_EVENTS.clear()
    events = LocalGateway(cloud.routes, FunctionPool(cloud.functions, direct=False))
    direct = LocalGateway(cloud.routes, FunctionPool(cloud.functions))
    return events, direct, served


#: set while the event gateway's handlers are to resolve every event with Powertools
RESOLVER_ONLY: list[bool] = []
#: the statuses the handlers' event direct path answered
SERVED_EVENTS: list[int] = []


def _both(gateways, method, path, query="", headers=None, rid="r" * 32):
    """(Powertools' answer, the local direct path's); the event direct path's must be the first."""
    events, direct, _ = gateways
    RESOLVER_ONLY.append(True)
    try:
        a = events.handle(method, path, query, dict(headers or {}), b"", request_id=rid)
    finally:
        RESOLVER_ONLY.clear()
    via_event = events.handle(method, path, query, dict(headers or {}), b"", request_id=rid)
    assert via_event == a, (method, path)
    b = direct.handle(method, path, query, dict(headers or {}), b"", request_id=rid)
    return a, b


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "web", path)


def _key(services, role: str) -> str:
    from pilothouse.services.keys import create_key

    secret, _ = create_key(services, name=f"k-{role}", role=role, created_by="t")
    return secret


def test_every_read_route_answers_the_same_both_ways(gateways, cloud, services, admin_key):
    """Given the template's GET routes, when each is called with an admin key, a viewer's key, a
    wrong key and none, then both paths give the same status, headers and bytes."""
    viewer = _key(services, "viewer")
    keys = {"admin": admin_key, "viewer": viewer, "wrong": "ph_nope_" + "x" * 40, "none": None}
    paths = sorted({_concrete(r.path) for r in cloud.routes if r.method in ("GET", "ANY")})
    compared = 0
    for path in paths:
        for who, key in keys.items():
            headers = {"authorization": f"Bearer {key}"} if key else {}
            a, b = _both(gateways, "GET", path, headers=headers)
            assert a == b, (path, who)
            compared += 1
    assert compared > 40
    assert gateways[2], "the direct path served nothing"
    assert sorted(SERVED_EVENTS) == sorted(gateways[2]), "the event direct path served other reads"


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {}),
        ("environment=development", {}),
        ("environment=nowhere", {}),  # 422: handed back, the event path answers
        ("environment=development&environment=staging", {}),  # a repeat: 422
        ("wait=abc", {}),
        ("wait=1&after_version=0", {}),
        ("a=1&b=&c=%20x", {}),
        ("", {"If-None-Match": "*"}),
        ("", {"Accept-Encoding": "gzip, deflate", "Origin": "https://x.example"}),
        ("", {"Cookie": "a=1; b=2", "X-Api-Key": "ignored-when-bearer"}),
    ],
)
def test_config_reads_answer_the_same_both_ways(gateways, admin_key, query, headers):
    """Given a component with a config version, when its config is read with these queries and
    headers, then both paths answer the same bytes."""
    auth = {"Authorization": f"Bearer {admin_key}", **headers}
    a, b = _both(gateways, "GET", "/v1/components/web/config", query, auth)
    assert a == b
    a, b = _both(gateways, "HEAD", "/v1/components/web/config", query, auth)
    assert a == b


def test_a_matching_etag_is_a_304_both_ways(gateways, admin_key):
    auth = {"authorization": f"Bearer {admin_key}"}
    first = _both(gateways, "GET", "/v1/components/web/config", "", auth)[1]
    etag = first[1]["etag"]
    a, b = _both(gateways, "GET", "/v1/components/web/config", "", {**auth, "if-none-match": etag})
    assert a == b and a[0] == 304
    assert 304 in gateways[2] and 200 in gateways[2]


def test_refused_reads_are_audited_and_problem_json_both_ways(gateways, monkeypatch):
    """Given a wrong key, when the config is read both ways, then each answers the same 401
    problem+json and hands the audit the same record."""
    from pilothouse.wiring import ServiceHooks

    audited: list[dict] = []
    real = ServiceHooks.audit

    def spy(self, services, **kw):
        audited.append(kw)
        return real(self, services, **kw)

    monkeypatch.setattr(ServiceHooks, "audit", spy)
    a, b = _both(gateways, "GET", "/v1/components/web/config", "", {"authorization": "Bearer ph_x_y"})
    assert a == b and a[0] == 401
    assert a[1]["content-type"] == "application/problem+json"
    assert json.loads(a[2])["request_id"] == "r" * 32
    assert 401 in gateways[2]
    assert len(audited) == 3 and audited[0] == audited[1] == audited[2]
    assert audited[0]["status"] == 401 and audited[0]["operation"] == "get_component_config"


def test_the_direct_path_hands_back_what_it_does_not_serve(gateways, admin_key, monkeypatch):
    """Given answers validated, a body, or a mutating route, the direct path serves nothing."""
    auth = {"authorization": f"Bearer {admin_key}"}
    _, direct, served = gateways
    direct.handle("POST", "/v1/components/web/config", "", auth, b'{"values": {"port": 1}}')
    direct.handle("GET", "/v1/components/web/config", "", auth, b"{}")
    assert served == []
    monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", "true")
    assert direct.handle("GET", "/v1/components/web/config", "", auth, b"")[0] == 200
    assert served == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/components/w%65b/config",
        "/v1/components/%2e%2e/config",
        "/v1/components/a%00b/config",
        "/v1/components/" + "x" * 2000 + "/config",
        "/v1/components/%E2%98%83/config",
    ],
)
def test_odd_paths_answer_the_same_both_ways(gateways, admin_key, path):
    """Given encoded, traversing, NUL-bearing, long or non-ASCII names, both paths agree."""
    a, b = _both(gateways, "GET", path, "", {"authorization": f"Bearer {admin_key}"})
    assert a == b


def test_a_huge_query_answers_the_same_both_ways(gateways, admin_key):
    query = "&".join(f"k{i}=" + "v" * 50 for i in range(150)) + "&environment=development"
    a, b = _both(
        gateways, "GET", "/v1/components/web/config", query, {"authorization": f"Bearer {admin_key}"}
    )
    assert a == b and a[0] == 200


@pytest.mark.parametrize("stage", ["$default", "prod"])
def test_a_cloud_event_is_served_directly_as_powertools_would(cloud, pool, admin_key, stage):
    """Given a gateway's payload-2.0 event of a read (a named stage's path starting with the
    stage), when the function handles it, then the direct path answers it, with the resolver's
    answer; an event with a body or of a mutation goes to the resolver."""
    from pilothouse.embedded.functions import LambdaContext, load_module
    from pilothouse.runtime.events import http_event

    SERVED_EVENTS.clear()
    handler = load_module(pool.functions["GetComponentFunction"])
    auth = {"authorization": f"Bearer {admin_key}"}
    prefix = "" if stage == "$default" else f"/{stage}"
    event = http_event("GET", "/v1/components/nope", headers=auth, path_parameters={"name": "nope"})
    event["rawPath"] = prefix + event["rawPath"]
    event["requestContext"]["stage"] = stage
    real = http_direct.DirectReads.serve_event
    served: list[dict] = []

    def spy(self, e):
        result = real(self, e)
        served.append(result)
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PILOTHOUSE_RESPONSE_VALIDATION", "false")
        mp.setattr(http_direct.DirectReads, "serve_event", spy)
        direct = handler(event, LambdaContext("get", 30))
        resolved = handler.resolver.resolve(event, LambdaContext("get", 30))
        assert served and served[0] is direct and direct["statusCode"] == 404
        assert direct == resolved
        handler({**event, "body": "{}"}, LambdaContext("get", 30))
        assert len(served) == 1
