"""Read routes validate their path, query and header parameters with a plan made once per route
(``runtime.params.ReadValidation``): every request must get the answer Powertools' own request
validation gives it. Each read operation with parameters is served both ways, on the same control
plane, and the answers are compared."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
from aws_lambda_powertools.event_handler.openapi.params import Query

from pilothouse.runtime.events import http_event
from pilothouse.runtime.http import build_resolver
from pilothouse.runtime.params import ReadValidation, _Fallback

QUERIES = [
    "",
    "limit=5",
    "limit=0",
    "limit=abc",
    "limit=5&limit=6",
    "limit=5,6",
    "limit=",
    "environment=production",
    "environment=nowhere",
    "environment=staging&environment=production",
    "wait=3&after_version=0",
    "wait=31&after_version=-1",
    "wait=x&after_version=y&environment=z",
    "from_version=1&to_version=1",
    "from_version=0",
    "cursor=zzz&limit=2",
    "version=1",
    "version=-5",
    "unknown=1",
    "state=Running&limit=1",
    "since=2026-01-01T00:00:00Z",
    "since=yesterday",
]
HEADERS = [{}, {"If-None-Match": '"1-abc", "2-def"'}, {"if-none-match": "*"}]


def _read_operations():
    from pilothouse.api import all_operations
    from pilothouse.runtime.http import _needs_request_validation

    return [op for op in all_operations() if not op.mutating and _needs_request_validation(op)]


def _path(op) -> str:
    values = {"name": "web", "set_name": "shared", "environment": "production", "deployment_id": "d-1"}
    parts = []
    for part in op.path.split("/"):
        if part.startswith("<"):
            parts.append(values.get(part[1:-1], "x-1"))
        else:
            parts.append(part)
    return "/".join(parts)


def _answer(resolver, op, query: str, headers: dict, key: str | None) -> tuple[int, dict]:
    path = _path(op)
    pairs = zip(op.path.split("/"), path.split("/"), strict=True)
    params = {p[1:-1]: s for p, s in pairs if p.startswith("<")}
    sent = {**headers, **({"authorization": f"Bearer {key}"} if key else {})}
    event = http_event(
        "GET",
        path,
        query=query,
        headers=sent,
        route_key=f"GET {op.path.replace('<', '{').replace('>', '}')}",
        path_parameters=params or None,
        request_id="req-1",
    )
    result = resolver.resolve(event, None)
    body = result.get("body") or ""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    return result["statusCode"], parsed


@pytest.fixture
def web(services, admin_key):
    from pilothouse.services import components, config
    from tests.support.specs import spec

    schema = {"type": "object", "properties": {"port": {"type": "integer", "default": 80}}}
    components.register(services, components.parse_spec(spec("web", config_schema=schema)), actor="t")
    config.set_config(services, "web", values={"port": 8080}, message="m", actor="t")
    return admin_key


def test_every_read_route_answers_as_powertools_validation_does(web):
    """Given every read operation with query or header parameters, served once with the cached plan
    and once with Powertools' request validation, when each is sent the same valid, invalid,
    repeated, missing and unknown parameters (with and without a key), then each pair of answers
    has the same status and body."""
    ops = _read_operations()
    assert any(op.name == "get_component_config" for op in ops)
    compared = 0
    for op in ops:
        ours = build_resolver([op])
        theirs = build_resolver([op], document=True)  # Powertools' validation on every route
        for key in (web, None):
            for query in QUERIES:
                for headers in HEADERS:
                    a = _answer(ours, op, query, headers, key)
                    b = _answer(theirs, op, query, headers, key)
                    assert a == b, (op.name, query, headers, a, b)
                    compared += 1
    assert compared > 1000


def test_a_bad_parameter_is_a_422_naming_each_field_and_a_missing_key_a_401_first(web):
    """Given the config read route with the cached plan, when its query is wrong in two places, then
    the answer is one 422 naming both fields; without a key the same request is a 401."""
    from pilothouse.api.config import get_component_config

    resolver = build_resolver([get_component_config])
    status, body = _answer(resolver, get_component_config, "wait=99&environment=moon", {}, web)
    assert status == 422
    assert {e["field"] for e in body["errors"]} == {"wait", "environment"}
    assert _answer(resolver, get_component_config, "wait=99", {}, None)[0] == 401


def listed(tags: Annotated[list[str], Query()]) -> None:
    """A route taking a list in its query."""


def scalar(limit: Annotated[int, Query(ge=1)] = 5, env: Annotated[str | None, Query()] = None) -> None:
    """A route taking scalars in its query."""


class _Route:
    def __init__(self, func):
        from aws_lambda_powertools.event_handler.openapi.dependant import get_dependant

        self.dependant = get_dependant(path="/x", call=func)


def test_the_plan_is_made_once_and_a_route_it_does_not_cover_goes_to_powertools():
    """Given a route with a list-valued query parameter, when its plan is made, then it is the
    fallback (Powertools validates it); a route with scalars gets a plan of its fields, made once."""
    from pilothouse.runtime import params

    assert isinstance(params._plan(_Route(listed)), _Fallback)
    middleware = ReadValidation()
    route = _Route(scalar)
    plan = middleware.plan_of(route)
    assert not isinstance(plan, _Fallback)
    assert [(p.name, p.source, p.default) for p in plan] == [("limit", "query", 5), ("env", "query", None)]
    route.dependant = None  # a second request must not look at the route's fields again
    assert middleware.plan_of(route) is plan
