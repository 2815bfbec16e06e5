"""The real HTTP API in process, for clients that speak httpx (the CLI).

:class:`InProcessApi` is an ``httpx.BaseTransport``: each request becomes an API Gateway HTTP API
payload-2.0 event, answered by the resolver of every operation (``pilothouse.api.all_operations`` through
``runtime.http.build_resolver``), on whatever services are registered (the tests use the memory
store and queue and a fake provider). Before it answers a read, it delivers one batch of every
queue to its function, the way the embedded cloud's worker does (jobs, executions, tasks), so a
client that polls (``--wait``) sees the real transitions one step at a time. ``requests`` records
what was sent.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
from tests.support.specs import spec

from pilothouse.api import all_operations
from pilothouse.embedded.functions import FunctionPool, LambdaContext
from pilothouse.embedded.worker import deliver
from pilothouse.runtime.events import http_event
from pilothouse.runtime.http import http_function

#: how far a manual clock jumps when only delayed messages are left, and how many jumps one step takes
LEAP_SECONDS = 30.0
LEAPS = 200


class InProcessApi(httpx.BaseTransport):
    """The real API as an httpx transport, with the embedded cloud's worker stepped by reads."""

    def __init__(self, services: Any, pool: FunctionPool, cloud: Any, key: str, clock: Any = None) -> None:
        self.services = services
        self.clock = clock
        self.pool = pool
        self.cloud = cloud
        self.key = key
        self.requests: list[httpx.Request] = []
        self._handler = http_function(*all_operations())
        self.provider: Any = None  # the fake provider, set by the fixture
        self.working = True  # False: nothing is delivered (every operation hangs where it is)
        self.idle_reads = 0  # this many reads pass before the worker takes its next step
        self.hidden: tuple[str, ...] = ()  # path prefixes answered 404 (an older server)
        self.scene_deployments: set[str] = set()  # deployments begun by :meth:`add`

    # -- the transport -----------------------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.requests.append(request)
        if self.hidden and request.url.path.startswith(self.hidden):
            problem = {"title": "Not found", "status": 404, "detail": f"no route for {request.url.path}"}
            headers = {"Content-Type": "application/problem+json"}
            return httpx.Response(404, json=problem, headers=headers, request=request)
        if request.method == "GET":
            if self.idle_reads:
                self.idle_reads -= 1
            else:
                self.step()
        event = http_event(
            request.method,
            request.url.path,
            query=request.url.query.decode(),
            headers=dict(request.headers),
            body=body,
        )
        out = self._handler(event, LambdaContext("api", 30.0))
        headers = dict(out.get("headers") or {})
        for name, values in (out.get("multiValueHeaders") or {}).items():
            headers.setdefault(name, ", ".join(values))
        raw = out.get("body") or ""
        content = base64.b64decode(raw) if out.get("isBase64Encoded") else raw.encode()
        headers.pop("content-length", None)
        headers.pop("Content-Length", None)
        return httpx.Response(out["statusCode"], headers=headers, content=content, request=request)

    # -- the worker --------------------------------------------------------------------------------

    def step(self) -> bool:
        """Deliver one batch of every queue (whatever is visible); True when something was. When
        nothing is visible but messages wait for their delay (a pause, a retry's interval) and the
        services run on a manual clock, the clock jumps forward until one is."""
        if not self.working:
            return False
        for _ in range(LEAPS):
            if self._deliver_once():
                return True
            if self.clock is None or not self._delayed():
                return False
            self.clock.advance(LEAP_SECONDS)
        return False

    def _deliver_once(self) -> bool:
        busy = False
        for source in self.cloud.queue_sources:
            messages = self.services.queue.receive(source.queue, max_messages=source.batch_size)
            if messages:
                busy = True
                deliver(self.services.queue, source, self.pool, messages)
        return busy

    def _delayed(self) -> bool:
        return any(self.services.queue.depth(s.queue)["delayed"] for s in self.cloud.queue_sources)

    def settle(self, limit: int = 10_000) -> None:
        """Deliver until every queue is empty (what a test does to set a scene up)."""
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError("queues did not drain")

    # -- for tests ---------------------------------------------------------------------------------

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def add(self, name: str, state: str = "Registered", **over: Any) -> dict:
        """Register ``name`` (the greeter spec with ``over``) and bring it to ``state`` through the
        real lifecycle: Failed is a first deploy whose version the fake provider cannot start."""
        body = spec(name, **over)
        self.call("POST", "/v1/components", body)
        if state in ("Running", "Stopped", "Failed"):
            if state == "Failed":
                self.provider.broken_versions.add(body["version"])
            self.call("POST", f"/v1/components/{name}/deploy", {})
            self.settle()
            self.provider.broken_versions.discard(body["version"])
        if state == "Stopped":
            self.call("POST", f"/v1/components/{name}/stop", {})
            self.settle()
        view = self.call("GET", f"/v1/components/{name}")
        assert view["state"] == state, view
        listed = self.call("GET", "/v1/deployments?limit=100")["items"]
        self.scene_deployments.update(d["id"] for d in listed if d["component"] == name)
        return view

    def view(self, name: str) -> dict:
        """The component as the API shows it now."""
        return self.call("GET", f"/v1/components/{name}")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """A call as the admin (not recorded in ``requests``), for setting a scene up; a read lets the
        worker take a step, like any read."""
        with httpx.Client(
            transport=_Unrecorded(self),
            base_url="http://pilothouse.test",
            headers={"Authorization": f"Bearer {self.key}"},
        ) as client:
            response = client.request(method, path, json=body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None


class _Unrecorded(httpx.BaseTransport):
    def __init__(self, api: InProcessApi) -> None:
        self.api = api

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.api.handle_request(request)
        self.api.requests.pop()
        return response


def task_operation(monkeypatch: Any, name: str, fn: Any = None) -> list[Any]:
    """Make ``name`` a public operation a workflow's Task may call for the test's duration; it runs
    ``fn(payload)`` (default: returns nothing). Returns the list of payloads it is called with."""
    from pydantic import RootModel

    from pilothouse.domain.security import Permission
    from pilothouse.services import workflow_operations as ops

    payloads: list[Any] = []

    def run(services: Any, principal: Any, args: Any, caller: Any) -> Any:
        payloads.append(args.root)
        return fn(args.root) if fn else None

    op = ops.Operation(Permission.WORKFLOWS_READ, RootModel[Any], run, False, "a test operation")
    monkeypatch.setitem(ops.OPERATIONS, name, op)
    return payloads
