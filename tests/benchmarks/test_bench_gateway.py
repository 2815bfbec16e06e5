"""The local gateway against an anchor: uvicorn (h11) + Starlette doing the same SQLite read.

Both serve ``GET /v1/components/web`` (the anchor reads the component through the same service
call the function makes, without the function runtime); a load generator in another process drives
``BENCH_CLIENTS`` keep-alive clients at each in turn, for ``BENCH_ROUNDS`` rounds of
``BENCH_SECONDS`` each, alternating which goes first (so load from outside the benchmark on a shared
machine falls on both alike). Printed: requests/s, p50/p99, the server's CPU per request (its
process's CPU time over the round, which outside load hardly changes), and the ratios
gateway/anchor (throughput: the median of the rounds' ratios). Two set-ups: the gateway alone in
this process (its own ceiling), and the real ``pilothouse dev`` in its own process (gateway, queue
worker and scheduler). Nothing is asserted about time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from pilothouse.runtime.events import http_event
from tests.support.bench import report
from tests.support.e2e import DevProcess, make_admin_key
from tests.support.load_rounds import (
    CLIENTS,
    ROUNDS,
    SECONDS,
    Side,
    UvicornAnchor,
    compare,
    load,
    process_cpu,
    row_of,
)
from tests.support.specs import spec


def _anchor(services) -> UvicornAnchor:
    """uvicorn with the pure-Python h11 parser + Starlette, reading the component from SQLite."""
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from pilothouse.services import components as svc

    def get_component(request):  # sync endpoint: Starlette runs it in its thread pool
        return JSONResponse(svc.view(svc.get(services, request.path_params["name"])))

    return UvicornAnchor([Route("/v1/components/{name}", get_component)])


ANCHOR_LABEL = "anchor: uvicorn h11 + Starlette, same SQLite read"


@pytest.mark.slow
def test_gateway_against_uvicorn_h11_starlette(pool, cloud, services, admin_key):
    """Given a registered component and an admin key
    When N keep-alive clients GET it through the anchor and through the local gateway (alone in
    this process: no queue worker, no scheduler), in alternating rounds
    Then both answer every request 200; requests/s, p50/p99, CPU per request and ratios are printed."""
    auth = {"Authorization": f"Bearer {admin_key}"}
    headers = {**auth, "content-type": "application/json"}
    created = pool.invoke(
        "RegisterComponentFunction",
        http_event("POST", "/v1/components", headers=headers, body=json.dumps(spec("web"))),
    )
    assert created["statusCode"] == 201, created
    path = "/v1/components/web"
    event = http_event("GET", path, headers=auth, path_parameters={"name": "web"})
    for _ in range(20):
        pool.invoke("GetComponentFunction", event)
    t0 = time.process_time()  # CPU, not wall: the machine may be shared
    for _ in range(200):
        pool.invoke("GetComponentFunction", event)
    function_ms = (time.process_time() - t0) / 200 * 1000

    server = GatewayServer(LocalGateway(cloud.routes, pool), "127.0.0.1", 0)
    bare = GatewayServer(LocalGateway(cloud.routes, _AtOnce()), "127.0.0.1", 0)  # type: ignore[arg-type]
    with _anchor(services) as anchor:
        server.start()
        bare.start()
        try:
            own = Side("the gateway, a function answering at once", bare.url, auth, process_cpu())
            for _ in range(ROUNDS // 2 or 1):
                own.run(path)
            compare(
                "local gateway alone vs anchor",
                path,
                Side(ANCHOR_LABEL, anchor.url, {}, process_cpu()),
                Side("pilothouse gateway (auth + function)", server.url, auth, process_cpu()),
                {
                    own.label + " (its own cost)": own.row(),
                    "the function alone, in-process, one thread": (
                        f"{function_ms:.2f} ms CPU a call ({1000 / function_ms:.0f} calls/s a core at most)"
                    ),
                },
            )
        finally:
            bare.stop()
            server.stop()


class _AtOnce:
    """Stands in for the function pool: answers every invocation at once, as a function would."""

    def invoke(self, name: str, event: dict) -> dict:
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}


@pytest.mark.slow
def test_pilothouse_dev_against_uvicorn_h11_starlette(tmp_path, services):
    """Given the real ``pilothouse dev`` (gateway, queue worker, scheduler) in its own process on
    the data dir this test's services read, and a component registered through it
    When N keep-alive clients GET it through the anchor (in this process) and through
    ``pilothouse dev``, in alternating rounds
    Then both answer every request 200; the figures are printed, the dev process's CPU counted
    (its idle CPU, the pollers', is printed on its own)."""
    import httpx

    key = make_admin_key()
    data_dir = services.settings.data_dir
    dev = DevProcess(data_dir, tmp_path, key, marker=f"bench-{os.getpid()}")
    dev.start()
    try:
        auth = {"Authorization": f"Bearer {key}"}
        created = httpx.post(dev.url + "/v1/components", json=spec("web"), headers=auth, timeout=30)
        assert created.status_code == 201, created.text
        assert dev.proc is not None
        dev_cpu = process_cpu(dev.proc.pid)
        before = dev_cpu()
        time.sleep(2)
        idle = (dev_cpu() - before) / 2
        path = "/v1/components/web"
        with _anchor(services) as anchor:
            compare(
                "pilothouse dev vs anchor",
                path,
                Side(ANCHOR_LABEL, anchor.url, {}, process_cpu()),
                Side("pilothouse dev (gateway + worker + scheduler)", dev.url, auth, dev_cpu),
                {"pilothouse dev idle, before the load": f"{idle * 100:.1f}% of a core"},
            )
    finally:
        dev.interrupt()


_BACKEND = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *a): pass
    def do_GET(self):
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
s = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.daemon_threads = True
s.serve_forever()
"""


@pytest.mark.slow
def test_router_against_its_backend_direct():
    """Given a stdlib HTTP backend in its own process and a router in front of it
    When N keep-alive clients GET through the router, and straight from the backend (the anchor)
    Then both answer every request 200; requests/s, p50/p99 and the ratio are printed."""
    from pilothouse.providers.local.process import free_port
    from pilothouse.providers.local.router import Router

    port = free_port()
    backend = subprocess.Popen([sys.executable, "-c", _BACKEND, str(port)])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the backend did not start"
                time.sleep(0.05)
        direct = f"http://127.0.0.1:{port}"
        with Router() as router:
            router.set_backends({"r1": ([direct], 1.0)})
            load(router.url, "/", {})  # warm
            anchor_fig = load(direct, "/", {})
            router_fig = load(router.url, "/", {})
    finally:
        backend.terminate()
        backend.wait(5)

    report(
        f"local router vs its backend, GET / ({CLIENTS} keep-alive clients, {SECONDS:.0f} s)",
        {
            "anchor: the backend directly (stdlib http.server)": row_of(anchor_fig),
            "through the router": row_of(router_fig),
            "throughput ratio router/direct": f"{router_fig['rps'] / anchor_fig['rps']:.2f}",
            "p99 ratio router/direct": f"{router_fig['p99_ms'] / anchor_fig['p99_ms']:.2f}",
        },
    )
    assert anchor_fig["errors"] == 0 and router_fig["errors"] == 0
