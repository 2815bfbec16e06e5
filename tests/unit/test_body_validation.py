"""Routes with a JSON body validate it with Powertools' own fields, planned once per route
(``runtime.body_params.BodyValidation``), and hand every request they do not pass to Powertools'
request validation: each request must reach the endpoint with the arguments, or be answered with
the problem, that Powertools' validation gives it. Each mutating operation with a body is served
both ways and the answers compared (the endpoint replaced by an echo of its arguments)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel

from pilothouse.runtime import guard
from pilothouse.runtime.body_params import BodyValidation, _Fallback, _plan
from pilothouse.runtime.events import http_event
from pilothouse.runtime.http import build_resolver
from tests.support.specs import spec

#: bodies every route gets: valid and invalid JSON, wrong shapes, unknown keys, coercions
COMMON = [
    None,
    "",
    "{}",
    "null",
    "[]",
    "[{}]",
    '"text"',
    "1",
    "not json",
    "{",
    '{"unknown": 1}',
    '{"reason": "because", "comment": "ok"}',
    '{"replicas": "2"}',
    '{"replicas": 2.0}',
    '{"replicas": true}',
    '{"version": 2}',
    '{"version": "2.0.0", "strategy": "canary"}',
    '{"version": "2.0.0", "config": {"greeting": "hello"}}',
    '{"config": {"greeting": 5}}',
    '{"name": "web", "role": "viewer"}',
    '{"name": "Bad Name!"}',
    '{"input": {"a": [1, 2]}, "name": "run-1"}',
    '{"output": "{}", "task_token": "t"}',
    '{"values": {"greeting": "hi"}, "message": "m"}',
    '{"minutes": 5, "note": "n"}',
]
#: bodies for one route (a valid one at least, and near misses)
VALID = {
    "register_component": [
        spec("web"),
        spec("web", scaling={"min": 2, "max": 3}),
        spec("web", config={"greeting": 5}),
        spec("web", extra_key=1),
        [spec("web")],
        {**spec("web"), "version": 1.0},
    ],
    "scale_component": [{"replicas": 3}, {"replicas": -1}, {"replicas": "3"}],
    "update_component": [{"version": "2.0.0"}, {"version": "2.0.0", "strategy": "rolling"}],
    "deploy_component": [{"version": "1.0.0"}, {"strategy": "all-at-once"}],
}
HEADERS: list[dict[str, str]] = [
    {"content-type": "application/json"},
    {"content-type": "application/json; charset=utf-8"},
    {},
    {"content-type": "text/plain"},
    {"content-type": "application/x-www-form-urlencoded"},
]


def _body_operations():
    from pilothouse.api import all_operations
    from pilothouse.runtime.http import _needs_request_validation

    return [op for op in all_operations() if op.mutating and _needs_request_validation(op)]


def _path(op) -> str:
    values = {"name": "web", "set_name": "shared", "environment": "production", "deployment_id": "d-1"}
    return "/".join(
        values.get(part[1:-1], "x-1") if part.startswith("<") else part for part in op.path.split("/")
    )


def _echo(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return [type(value).__name__, value.model_dump(mode="json")]
    return value


@pytest.fixture
def echoed(monkeypatch):
    """The route guard's call answers the endpoint's arguments instead of running the endpoint
    (authentication, admission and the audit run as they do)."""

    def call(self, app, ctx, next_middleware) -> Response:
        args = {k: _echo(v) for k, v in sorted(app.context.get("_route_args", {}).items())}
        return Response(200, "application/json", json.dumps(args, sort_keys=True, default=repr))

    monkeypatch.setattr(guard.Guard, "_call", call)


def _answer(resolver, op, body: Any, headers: dict, key: str | None, *, base64_body: bool = False):
    path = _path(op)
    pairs = zip(op.path.split("/"), path.split("/"), strict=True)
    params = {p[1:-1]: s for p, s in pairs if p.startswith("<")}
    text = body if body is None or isinstance(body, str) else json.dumps(body)
    event = http_event(
        op.method,
        path,
        headers={**headers, **({"authorization": f"Bearer {key}"} if key else {})},
        body=text,
        route_key=f"{op.method} {op.path.replace('<', '{').replace('>', '}')}",
        path_parameters=params or None,
        request_id="req-1",
    )
    if base64_body and text:
        event = {**event, "body": base64.b64encode(text.encode()).decode(), "isBase64Encoded": True}
    result = resolver.resolve(event, None)
    answer = result.get("body") or ""
    try:
        parsed = json.loads(answer) if answer else None
    except ValueError:
        parsed = answer
    return result["statusCode"], parsed


def test_every_body_route_reaches_its_endpoint_as_powertools_validation_lets_it(services, admin_key, echoed):
    """Given every mutating operation with a body, served once with the planned validation and once
    with Powertools' request validation, when each gets the same valid, invalid, non-object and
    non-JSON bodies (plain and base64, under several media types, with and without a key), then
    each pair of answers is the same: the same arguments reach the endpoint, or the same problem
    comes back."""
    ops = _body_operations()
    assert any(op.name == "register_component" for op in ops)
    compared = reached = 0
    for op in ops:
        ours = build_resolver([op])
        theirs = build_resolver([op], document=True)  # Powertools' validation on every route
        bodies = [*COMMON, *VALID.get(op.name, [])]
        every = [(admin_key, headers, False) for headers in HEADERS]
        every += [(admin_key, HEADERS[0], True), (None, HEADERS[0], False)]
        for n, body in enumerate(bodies):
            # media types, base64 and a missing key with a few bodies of each kind
            for key, headers, encoded in every if n % 4 == 0 else every[:1]:
                a = _answer(ours, op, body, headers, key, base64_body=encoded)
                b = _answer(theirs, op, body, headers, key, base64_body=encoded)
                assert a == b, (op.name, body, headers, encoded, a, b)
                compared += 1
                reached += a[0] == 200
    assert compared > 2000
    assert reached > 100  # valid bodies did reach the endpoint


def test_a_valid_body_skips_powertools_and_an_invalid_one_is_a_422_naming_the_field(
    services, admin_key, echoed, monkeypatch
):
    """Given the register route, when a valid spec is sent, then Powertools' request validation is
    not run and the endpoint gets the spec; when a spec with a bad field is sent, then Powertools
    answers the 422 naming it; without a key the bad spec is a 401 first."""
    from pilothouse.api.components import register_component

    resolver = build_resolver([register_component])
    route = (resolver._dynamic_routes + resolver._static_routes)[0]
    middleware = next(m for m in route.middlewares if isinstance(m, BodyValidation))
    calls: list[int] = []
    powertools = middleware.powertools
    monkeypatch.setattr(middleware, "powertools", lambda: calls.append(1) or powertools())
    headers = {"content-type": "application/json"}
    status, args = _answer(resolver, register_component, spec("web"), headers, admin_key)
    assert (status, args["spec"][0], args["spec"][1]["name"], calls) == (200, "ComponentSpec", "web", [])
    bad = spec("web", scaling={"min": "x"})
    status, problem = _answer(resolver, register_component, bad, headers, admin_key)
    assert status == 422 and calls == [1]
    assert [e["field"] for e in problem["errors"]] == ["scaling.min"]
    assert _answer(resolver, register_component, bad, headers, None)[0] == 401


def register_like(name: str, request: dict) -> None:
    """A route taking a path capture and a body."""


def with_query(limit: int = 5, request: dict | None = None) -> None:
    """A route taking a query parameter and a body."""


class _Route:
    def __init__(self, func, path="/x/{name}"):
        from aws_lambda_powertools.event_handler.openapi.dependant import get_dependant

        self.dependant = get_dependant(path=path, call=func)


def test_a_route_with_more_than_a_path_and_a_body_goes_to_powertools():
    """Given a route with a query parameter beside its body, when its plan is made, then it is the
    fallback; a route with a path capture and a body gets a plan, made once."""
    assert isinstance(_plan(_Route(with_query, "/x")), _Fallback)
    middleware = BodyValidation()
    route = _Route(register_like)
    plan = middleware.plan_of(route)
    assert not isinstance(plan, _Fallback)
    assert ([f.name for f in plan.path], plan.body.name) == (["name"], "request")
    route.dependant = None  # a second request must not look at the route's fields again
    assert middleware.plan_of(route) is plan


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"content-type": "application/json"},
        {"Content-Type": " application/json; charset=utf-8 "},
        {"content-type": "text/plain", "Content-Type": "application/json"},
        {"CONTENT-TYPE": "application/json", "content-type": "text/plain", "x": "a,b"},
        {"authorization": "Bearer x", "accept": "*/*"},
    ],
)
def test_the_content_type_is_read_as_powertools_event_headers_give_it(headers):
    """Given raw event headers (any case, a name repeated in another case), when the plan reads
    the content type, then it is the value Powertools' case-insensitive ``event.headers`` gives."""
    from aws_lambda_powertools.utilities.data_classes.common import CaseInsensitiveDict

    from pilothouse.runtime.body_params import _header

    assert _header(headers, "content-type") == CaseInsensitiveDict(headers).get("content-type", "")
