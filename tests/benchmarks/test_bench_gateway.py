"""The local gateway against an anchor: uvicorn (h11) + Starlette doing the same SQLite read.

Both serve ``GET /v1/components/web`` in this process (the anchor reads the component through the
same service call the function makes, without the function runtime); a load generator in another
process drives ``BENCH_CLIENTS`` keep-alive clients for ``BENCH_SECONDS`` at each in turn. Figures
are printed with the ratio gateway/anchor, and the cost of one call of the function itself (auth,
Powertools, the read) in-process, which bounds what any server in front of it can do under the GIL.
Nothing is asserted about time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from pilothouse.runtime.events import http_event
from tests.support.bench import report
from tests.support.controlplane import ROOT
from tests.support.specs import spec

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))


class _Anchor:
    """uvicorn with the pure-Python h11 parser + Starlette, reading the component from SQLite."""

    def __init__(self, services) -> None:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        from pilothouse.services import components as svc

        def get_component(request):  # sync endpoint: Starlette runs it in its thread pool
            return JSONResponse(svc.view(svc.get(services, request.path_params["name"])))

        app = Starlette(routes=[Route("/v1/components/{name}", get_component)])
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so (else 40 ms
        # delayed-ACK stalls on every keep-alive response)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.server = uvicorn.Server(
            uvicorn.Config(app, http="h11", loop="asyncio", log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def __enter__(self) -> _Anchor:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(5)
        self.sock.close()


def _load(url: str, path: str, headers: dict[str, str]) -> dict[str, float]:
    args = [f"{k}: {v}" for k, v in headers.items()]
    out = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.loadgen", url, path, str(CLIENTS), str(SECONDS), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=SECONDS + 60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(r: dict[str, float]) -> str:
    return (
        f"{r['rps']:7.0f} req/s   p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms"
        f"   ({r['errors']:.0f} errors)"
    )


@pytest.mark.slow
def test_gateway_against_uvicorn_h11_starlette(pool, cloud, services, admin_key):
    """Given a registered component and an admin key
    When N keep-alive clients GET it through the anchor and then through the local gateway
    Then both answer every request 200; requests/s, p50/p99 and the ratio are printed."""
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
    t0 = time.perf_counter()
    for _ in range(200):
        pool.invoke("GetComponentFunction", event)
    function_ms = (time.perf_counter() - t0) / 200 * 1000

    with _Anchor(services) as anchor:
        _load(anchor.url, path, {})  # warm
        anchor_fig = _load(anchor.url, path, {})
    server = GatewayServer(LocalGateway(cloud.routes, pool), "127.0.0.1", 0)
    server.start()
    try:
        _load(server.url, path, auth)  # warm: function instances loaded
        gateway_fig = _load(server.url, path, auth)
    finally:
        server.stop()

    report(
        f"local gateway vs anchor, GET {path} ({CLIENTS} keep-alive clients, {SECONDS:.0f} s)",
        {
            "anchor: uvicorn h11 + Starlette, same SQLite read": _row(anchor_fig),
            "pilothouse gateway (auth + function)": _row(gateway_fig),
            "the function alone, in-process, one thread": (
                f"{function_ms:.2f} ms a call (at most {1000 / function_ms:.0f} calls/s on one core)"
            ),
            "throughput ratio gateway/anchor": f"{gateway_fig['rps'] / anchor_fig['rps']:.2f}",
            "p99 ratio gateway/anchor": f"{gateway_fig['p99_ms'] / anchor_fig['p99_ms']:.2f}",
        },
    )
    assert anchor_fig["errors"] == 0 and gateway_fig["errors"] == 0
    assert anchor_fig["requests"] > 0 and gateway_fig["requests"] > 0


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
            _load(router.url, "/", {})  # warm
            anchor_fig = _load(direct, "/", {})
            router_fig = _load(router.url, "/", {})
    finally:
        backend.terminate()
        backend.wait(5)

    report(
        f"local router vs its backend, GET / ({CLIENTS} keep-alive clients, {SECONDS:.0f} s)",
        {
            "anchor: the backend directly (stdlib http.server)": _row(anchor_fig),
            "through the router": _row(router_fig),
            "throughput ratio router/direct": f"{router_fig['rps'] / anchor_fig['rps']:.2f}",
            "p99 ratio router/direct": f"{router_fig['p99_ms'] / anchor_fig['p99_ms']:.2f}",
        },
    )
    assert anchor_fig["errors"] == 0 and router_fig["errors"] == 0
