"""The local HTTP gateway: routes from template.yaml, requests → payload-2.0 events → functions.

    gateway = LocalGateway(routes, pool)
    status, headers, body = gateway.handle("GET", "/v1/health", "", {}, b"")

:class:`GatewayServer` serves a gateway over real HTTP (uvicorn with an ASGI app, see
:mod:`pilothouse.embedded.gateway_asgi`); tests can call :meth:`LocalGateway.handle` directly and go
through the very same conversion. What the gateway answers by itself (no route, wrong method, body
too large...) is problem+json with a request id (:mod:`pilothouse.embedded.gateway_problems`).
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pilothouse.embedded.functions import FunctionPool
from pilothouse.embedded.gateway_problems import BadGateway, new_request_id, problem_answer
from pilothouse.embedded.gateway_routes import Match, RouteTable
from pilothouse.embedded.template import HttpRoute
from pilothouse.errors import MethodNotAllowed, NotFound, PayloadTooLarge, PilothouseError
from pilothouse.runtime.events import HttpRequest, http_result

if TYPE_CHECKING:
    from pilothouse.embedded.tls import TlsFiles

logger = logging.getLogger(__name__)

#: The methods an HTTP API routes (``ANY`` means these); anything else never reaches a function.
ROUTABLE_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


@dataclass(frozen=True)
class Dispatch:
    """Where a request goes: the route's function, its route key and path parameters, and the
    method the function sees (a HEAD on a GET-only route is served as a GET, its body dropped)."""

    function: str
    route_key: str
    method: str
    params: dict[str, str] | None = None


def _allow(methods: tuple[str, ...]) -> str:
    expanded = set(ROUTABLE_METHODS) if "ANY" in methods else set(methods)
    if "GET" in expanded:
        expanded.add("HEAD")
    return ", ".join(sorted(expanded))


class LocalGateway:
    """Routes requests to functions the way API Gateway's HTTP API does (payload format 2.0)."""

    def __init__(
        self, routes: list[HttpRoute], pool: FunctionPool, max_body_bytes: int = 10 * 1024 * 1024
    ) -> None:
        self.table = RouteTable(routes)
        self.pool = pool
        self.max_body_bytes = max_body_bytes
        #: (method, path) → where it went, for requests that found their route (the event loop
        #: routes every request; a walk of the route tree costs ~10 µs, a dict lookup far less)
        self._dispatched: dict[tuple[str, str], Dispatch] = {}

    #: routed requests remembered at most (past it, the memory starts over: a client sending
    #: endless distinct paths costs a walk each, never memory)
    DISPATCH_CACHE = 4096

    def resolve(self, method: str, path: str) -> Dispatch | PilothouseError:
        """Where ``method path`` goes, or the error the gateway answers instead (404, 405)."""
        known = self._dispatched.get((method, path))
        if known is not None:  # a copy: the params become the event's, which a function may change
            params = dict(known.params) if known.params else None
            return Dispatch(known.function, known.route_key, known.method, params)
        found = self._resolve(method, path)
        if isinstance(found, Dispatch):
            if len(self._dispatched) >= self.DISPATCH_CACHE:
                self._dispatched.clear()
            self._dispatched[(method, path)] = found
            params = dict(found.params) if found.params else None
            return Dispatch(found.function, found.route_key, found.method, params)
        return found

    def _resolve(self, method: str, path: str) -> Dispatch | PilothouseError:
        method = method.upper()
        found = self.table.match(method, path)
        if method == "HEAD" and found.match is not Match.FULL:
            as_get = self.table.match("GET", path)
            if as_get.match is Match.FULL:
                found, method = as_get, "GET"
        if found.match is Match.NONE:
            return NotFound(f"no route for {path}")
        if found.match is Match.PARTIAL or method not in ROUTABLE_METHODS:
            allowed = found.allowed if found.match is Match.PARTIAL else ("ANY",)
            allow = _allow(allowed)
            return MethodNotAllowed(
                f"{method} is not allowed on {path}; allowed: {allow}", headers={"Allow": allow}
            )
        route = found.route
        assert route is not None
        return Dispatch(route.function, f"{route.method} {route.path}", method, found.params or None)

    def invoke(
        self,
        dispatch: Dispatch,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        *,
        request_id: str,
    ) -> tuple[int, dict[str, str], bytes]:
        """Call the dispatch's function with the request (its payload-2.0 event, or the handler's
        direct read path: ``FunctionPool.serve``); its answer (or a 502 problem).
        Blocking: the function runs in the calling thread."""
        request = HttpRequest(
            dispatch.method, path, query, headers, body, dispatch.route_key, dispatch.params, request_id
        )
        serve = getattr(self.pool, "serve", None)  # a pool that only invokes takes the event
        try:
            if serve is not None:
                result = serve(dispatch.function, request)
            else:
                result = self.pool.invoke(dispatch.function, request.event())
        except Exception as exc:  # what API Gateway answers when the integration fails
            # the type and where, never the message: it may carry a secret
            logger.error(
                "function %s failed: %s\n%s",
                dispatch.function,
                type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)),
                extra={"request_id": request_id},
            )
            return problem_answer(
                BadGateway(f"the function failed: {type(exc).__name__}"), request_id=request_id, instance=path
            )
        status, out_headers, out = http_result(result)
        out_headers.setdefault("x-request-id", request_id)
        return status, out_headers, out

    def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        *,
        request_id: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One whole request, in the calling thread: route, check the body's size, invoke."""
        rid = request_id or new_request_id()
        found = self.resolve(method, path)
        if isinstance(found, PilothouseError):
            return problem_answer(found, request_id=rid, instance=path)
        if len(body) > self.max_body_bytes:
            return problem_answer(too_large(self.max_body_bytes), request_id=rid, instance=path)
        return self.invoke(found, path, query, headers, body, request_id=rid)


def too_large(limit: int) -> PayloadTooLarge:
    """The 413 problem for a body over ``limit`` bytes."""
    return PayloadTooLarge(f"the body exceeds {limit} bytes", extra={"max_body_bytes": limit})


def listen_socket(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (``port=0``: a free one), or OSError saying why not.

    The socket names IPPROTO_TCP so that asyncio turns on TCP_NODELAY for its connections (without
    it every kept-alive response waits for the client's delayed ACK)."""
    found = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )
    # IPv4 first when a name has both (``localhost``): what http.server did, and what clients try
    family, kind, proto, _, address = min(found, key=lambda info: info[0] != socket.AF_INET)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebinding across TIME_WAIT only
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        why = "the port is in use by another process" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise OSError(exc.errno, f"cannot listen on {host}:{port}: {why}") from exc
    return sock


class GatewayServer:
    """A :class:`LocalGateway` over HTTP/1.1: uvicorn (httptools) in a background thread.

    Limits are enforced while reading: the request head (``max_url_bytes``, ``max_header_bytes``,
    ``head_timeout``) by the protocol, the body (the gateway's ``max_body_bytes``, streamed and
    refused past it; ``body_timeout`` for all of it to arrive) by the ASGI app. Idle kept-alive
    connections close after ``keep_alive_timeout``. Functions run in a pool of ``workers`` threads
    (each function has at most ``pool.max_instances`` instances anyway), so the event loop never
    blocks. ``backlog`` is the listening socket's accept queue.
    """

    def __init__(
        self,
        gateway: LocalGateway,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        body_timeout: float = 30.0,
        head_timeout: float = 10.0,
        keep_alive_timeout: float = 30.0,
        max_url_bytes: int = 8192,
        max_header_bytes: int = 16384,
        workers: int = 32,
        backlog: int = 2048,
        grace_seconds: float = 2.0,
        max_buffered_bytes: int = 64 * 1024 * 1024,
        tls: TlsFiles | None = None,
        max_streams: int = 64,
    ) -> None:
        self.gateway = gateway
        #: server-sent event streams open at once (the dashboard's live parts; 503 past it)
        self.max_streams = max_streams
        #: serve HTTPS (TLS 1.3 at least, ``embedded.tls``) with this certificate and key
        self.tls = tls
        #: request bodies all connections together may hold in memory (503 past it)
        self.max_buffered_bytes = max_buffered_bytes
        self.host = host
        self.port = port
        self.body_timeout = body_timeout
        self.head_timeout = head_timeout
        self.keep_alive_timeout = keep_alive_timeout
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes
        self.workers = workers
        self.backlog = backlog
        self.grace_seconds = grace_seconds
        self._sock: socket.socket | None = None
        self._server: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._bound: tuple[str, int] | None = None  # the address actually listened on

    @property
    def url(self) -> str:
        host, port = self._bound or (self.host, self.port)
        scheme = "https" if self.tls else "http"
        return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"

    def start(self) -> None:
        """Listen and serve; return once the socket accepts connections. OSError if the port is taken."""
        if self._thread is not None:
            return
        import uvicorn

        from pilothouse.embedded.gateway_asgi import GatewayApp
        from pilothouse.embedded.gateway_http import protocol_class

        sock = listen_socket(self.host, self.port, self.backlog)
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="gateway-fn")
        app = GatewayApp(
            self.gateway,
            self._executor,
            body_timeout=self.body_timeout,
            max_buffered_bytes=self.max_buffered_bytes,
            max_streams=self.max_streams,
        )
        config = uvicorn.Config(
            app,
            http=protocol_class(
                max_url_bytes=self.max_url_bytes,
                max_header_bytes=self.max_header_bytes,
                head_timeout=self.head_timeout,
            ),
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            backlog=self.backlog,
            timeout_keep_alive=int(self.keep_alive_timeout),
            timeout_graceful_shutdown=int(self.grace_seconds) or 1,
        )
        if self.tls is not None:
            from pilothouse.embedded.tls import server_context

            config.load()
            config.ssl = server_context(self.tls)  # TLS 1.3 as the minimum (uvicorn's own allows 1.2)
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._bound = sock.getsockname()[:2]
        self._failure = None
        self._thread = threading.Thread(target=self._serve, name="gateway", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway did not start: {self._failure!r}")
            time.sleep(0.005)

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # SystemExit included: uvicorn exits on startup failures
            self._failure = exc
            logger.exception("the gateway stopped")

    def stop(self) -> None:
        """Stop accepting, close connections (in-flight requests get ``grace_seconds``), release the port."""
        thread, self._thread = self._thread, None
        if thread is not None and self._server is not None:
            self._server.should_exit = True
            thread.join(self.grace_seconds + 5)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        if self._sock is not None:  # uvicorn closes it on shutdown; this covers a failed start
            self._sock.close()
            self._sock = None
