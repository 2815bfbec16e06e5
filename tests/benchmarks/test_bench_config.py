"""Config reads (issue 13): the resolved config read warm in process, and reads/s through the local
gateway, each against an anchor run in the same session.

* In process: ``config_watch.read`` (the in-instance cache) against the anchor
  ``components.get`` + ``view`` (one SQLite point read, what ``GET /v1/components/{name}`` does),
  alternating batches; p50/p99 and the ratio are printed. Target (issue 13): p99 <= 5 ms.
* Through the local gateway: ``GET /v1/components/web/config`` on the gateway (auth + function)
  against uvicorn h11 + Starlette answering the same cached read, with the gateway benchmark's
  alternating rounds. Target (issue 13): >= 2,000 reads/s.

Nothing is asserted about time.
"""

from __future__ import annotations

import time

import pytest

from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from tests.support.bench import report
from tests.support.load_rounds import ROUNDS, Side, UvicornAnchor, compare, process_cpu
from tests.support.specs import spec

BATCH = 2000


def _setup(services):
    from pilothouse.services import components, config, config_watch

    config_watch.clear()
    schema = {"type": "object", "properties": {"port": {"type": "integer", "default": 80}}}
    components.register(services, components.parse_spec(spec("web", config_schema=schema)), actor="bench")
    values = {"port": 8080, "features": {f"flag{i}": i % 2 == 0 for i in range(40)}, "name": "x" * 200}
    config.set_config(services, "web", values=values, message="bench", actor="bench")


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def _p(samples: list[float], q: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(len(samples) * q))]


def test_resolved_config_read_in_process(services):
    """Given a component with a config version, when its resolved config is read warm in process in
    alternating batches with the anchor (a component read), then p50/p99 of both are printed."""
    from pilothouse.services import components, config_watch

    _setup(services)
    read = lambda: config_watch.read(services, "web", "development")  # noqa: E731
    anchor = lambda: components.view(components.get(services, "web"))  # noqa: E731
    assert read().body["config"]["port"] == 8080
    for fn in (read, anchor):
        _timed(fn, 200)  # warm
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(4):
        for fn, into in ((read, ours), (anchor, theirs)) if i % 2 == 0 else ((anchor, theirs), (read, ours)):
            into += _timed(fn, BATCH)
    report(
        f"resolved config read, warm, in process ({len(ours)} reads each, alternating batches)",
        {
            "config_watch.read (in-instance cache)": (
                f"p50 {_p(ours, 0.5):.4f} ms   p99 {_p(ours, 0.99):.4f} ms"
            ),
            "anchor: components.get + view (SQLite read)": (
                f"p50 {_p(theirs, 0.5):.4f} ms   p99 {_p(theirs, 0.99):.4f} ms"
            ),
            "p99 ratio config/anchor": f"{_p(ours, 0.99) / _p(theirs, 0.99):.2f}",
            "target (issue 13)": "p99 <= 5 ms",
        },
    )


def _anchor(services) -> UvicornAnchor:
    """uvicorn (h11) + Starlette answering the same cached resolved-config read."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from pilothouse.services import config_watch

    def get_config(request):
        served = config_watch.read(services, request.path_params["name"], "development")
        return JSONResponse(served.body, headers={"ETag": served.etag})

    return UvicornAnchor([Route("/v1/components/{name}/config", get_config)])


@pytest.fixture
def production_answers(monkeypatch):
    """Answers as a deployment sends them: the suite's check of every answer against its model
    (``PILOTHOUSE_RESPONSE_VALIDATION``, tests/conftest.py) is off, as it is by default."""
    monkeypatch.setenv("PILOTHOUSE_RESPONSE_VALIDATION", "false")


@pytest.mark.slow
def test_config_reads_through_the_local_gateway(production_answers, pool, cloud, services, admin_key):
    """Given a component with a config version, when keep-alive clients GET its config through the
    gateway and through the anchor in alternating rounds, then every answer is 200 and reads/s,
    p50/p99, CPU per request and the ratios are printed."""
    assert not services.settings.response_validation
    _setup(services)
    auth = {"Authorization": f"Bearer {admin_key}"}
    server = GatewayServer(LocalGateway(cloud.routes, pool), "127.0.0.1", 0)
    with _anchor(services) as anchor:
        server.start()
        try:
            compare(
                "config reads: local gateway vs anchor",
                "/v1/components/web/config",
                Side("anchor: uvicorn h11 + Starlette, same cached read", anchor.url, {}, process_cpu()),
                Side("pilothouse gateway (auth + get_component_config)", server.url, auth, process_cpu()),
                {"target (issue 13)": ">= 2,000 reads/s through the local gateway", "rounds": str(ROUNDS)},
            )
        finally:
            server.stop()
