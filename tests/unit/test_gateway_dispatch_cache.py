"""LocalGateway.resolve remembers where routed requests went: the same answers as walking the
route tree, params that are the caller's own, and a bounded memory."""

from __future__ import annotations

from pilothouse.embedded.gateway import Dispatch, LocalGateway
from pilothouse.embedded.template import HttpRoute
from pilothouse.errors import MethodNotAllowed, NotFound


def _gateway() -> LocalGateway:
    routes = [
        HttpRoute("GetConfig", "GET", "/v1/components/{name}/config"),
        HttpRoute("GetComponent", "GET", "/v1/components/{name}"),
        HttpRoute("Register", "POST", "/v1/components"),
    ]
    return LocalGateway(routes, pool=None)  # type: ignore[arg-type]


def test_remembered_answers_are_those_of_the_walk_and_params_are_never_shared():
    gw = _gateway()
    for method, path in [
        ("GET", "/v1/components/web/config"),
        ("HEAD", "/v1/components/web"),
        ("get", "/v1/components/a%2Fb"),
    ]:
        walked = gw._resolve(method, path)
        first, again = gw.resolve(method, path), gw.resolve(method, path)
        assert isinstance(first, Dispatch) and first == again == walked
        assert first.params is not again.params
        first.params["name"] = "changed"  # a function changing its event's params
        assert gw.resolve(method, path) == walked
    assert gw.resolve("GET", "/v1/components/a%2Fb").params == {"name": "a/b"}


def test_refusals_are_walked_every_time_and_the_memory_is_bounded(monkeypatch):
    gw = _gateway()
    assert isinstance(gw.resolve("GET", "/nope"), NotFound)
    assert isinstance(gw.resolve("DELETE", "/v1/components"), MethodNotAllowed)
    assert gw._dispatched == {}
    monkeypatch.setattr(LocalGateway, "DISPATCH_CACHE", 10)
    for i in range(35):
        assert isinstance(gw.resolve("GET", f"/v1/components/c{i}"), Dispatch)
        assert len(gw._dispatched) <= 10
