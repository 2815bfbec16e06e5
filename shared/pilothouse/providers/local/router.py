"""An HTTP reverse proxy that spreads requests over the replicas of one or more revisions.

The router owns one listening port (the component's stable URL) and forwards each request -- method,
path, query, headers and body -- to a backend chosen in two steps:

1. a *revision* by smooth weighted round robin over the revisions with a positive weight and at
   least one backend (so weights 90/10 send exactly 9 of every 10 requests to the first), then
2. a *backend* of that revision by plain round robin, skipping for a short while backends that
   refused a connection (the request is then routed again; nothing was sent yet).

It counts per revision the requests, the errors (5xx, including its own 502s) and the latency of
each request. Counters run since the last reset (:meth:`Router.stats`); every request is also kept
as a timestamped sample (time, latency, error) in a bounded deque, so that :meth:`Router.window`
can summarise just the last N seconds (requests, errors, p50/p99), which is what a canary analysis
needs.

    >>> router = Router().start()
    >>> router.set_backends({"1.0.0": (["http://127.0.0.1:8001"], 1.0)})
    >>> router.stats("1.0.0")["requests"]
    0
    >>> router.close()

It runs in a background thread (``ThreadingHTTPServer``, one thread per client connection,
HTTP/1.1 keep-alive to the client, an accept backlog of 1024) of the process that owns it. Request
bodies are bounded in size and in time (see :mod:`router_server`); a backend that does not answer
within ``backend_timeout`` is a 504.
"""

from __future__ import annotations

import errno
import http.client
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pilothouse.providers.local.router_server import (
    BODY_METHODS,
    IDEMPOTENT_METHODS,
    REVISION_HEADER,
    ProxyServer,
    Upstream,
    UpstreamPool,
    error_response,
    merge_headers,
)
from pilothouse.providers.local.router_stats import RevisionStats

__all__ = ["REVISION_HEADER", "Router", "RouterError"]

# what sending on a kept-alive connection the backend has closed meanwhile raises
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


class RouterError(Exception):
    """The router could not start (for example its port is in use by another process)."""


class PortInUse(RouterError):
    """Another process listens on the router's port."""


@dataclass
class _Revision:
    name: str
    backends: list[str]
    weight: float
    current: float = 0.0  # smooth weighted round robin state
    next_backend: int = 0


class Router:
    """A reverse proxy on ``host:port`` in front of weighted revisions of backends.

    ``port=0`` picks a free port (read it back from :attr:`port` after :meth:`start`).
    ``backend_timeout`` bounds connecting to and waiting for a backend; ``max_samples`` bounds the
    timestamped samples kept per revision (so a :meth:`window` holding more requests than that
    counts only the latest ``max_samples``); ``clock`` (monotonic seconds) stamps the samples;
    ``down_seconds`` is how long a backend that refused a
    connection is skipped (unless every backend of its revision is down); ``max_attempts`` bounds
    the backends tried for one request when connections are refused. ``idle_timeout`` bounds each
    wait for a client (between requests and between reads), ``head_timeout`` the whole head of a
    request from its first byte, ``body_timeout`` its whole body, ``max_body_bytes`` its size (413
    beyond).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        backend_timeout: float = 30.0,
        max_samples: int = 50_000,
        down_seconds: float = 1.0,
        idle_timeout: float = 60.0,
        max_attempts: int = 4,
        clock: Callable[[], float] = time.monotonic,
        body_timeout: float = 60.0,
        max_body_bytes: int = 10 * 1024 * 1024,
        head_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.backend_timeout = backend_timeout
        self.down_seconds = down_seconds
        self.idle_timeout = idle_timeout
        self.body_timeout = body_timeout
        self.head_timeout = head_timeout
        self.max_body_bytes = max_body_bytes
        self.max_attempts = max(1, max_attempts)
        self._lock = threading.Lock()
        self._revisions: dict[str, _Revision] = {}
        self._stats = RevisionStats(max_samples=max_samples, clock=clock)
        self._down_until: dict[str, float] = {}
        self._inflight: dict[str, int] = {}
        self._idle = threading.Condition(self._lock)
        self._server: ProxyServer | None = None
        self._thread: threading.Thread | None = None
        self._upstreams = UpstreamPool(backend_timeout)
        self._routed: frozenset[str] = frozenset()  # every backend URL in the table

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Router:
        """Bind the port and serve in a daemon thread; return once it accepts connections.

        Raises :class:`RouterError` if it can't bind -- naming the port and saying so when another
        process listens on it, so that a deploy fails with that reason at once."""
        if self._server is not None:
            return self
        try:
            server = ProxyServer((self.host, self._requested_port), self)
        except OSError as exc:
            port = self._requested_port
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"port {port} on {self.host} is in use by another process") from exc
            raise RouterError(f"cannot listen on {self.host}:{port}: {exc.strerror or exc}") from exc
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"pilothouse-router-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            return self._requested_port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def close(self) -> None:
        """Stop accepting, drop open client connections and release the port (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        self._requested_port = int(server.server_address[1])
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self._upstreams.discard()

    def __enter__(self) -> Router:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- backends --------------------------------------------------------------------------------

    def set_backends(self, backends: Mapping[str, tuple[Sequence[str], float]]) -> None:
        """Replace the routing table: ``revision -> (backend base URLs, weight)``.

        Weights are relative (``{"A": (a, 90), "B": (b, 10)}`` sends 10% to B); a revision with
        weight 0 or no backends gets no traffic. Statistics of revisions are kept across calls.
        """
        table: dict[str, _Revision] = {}
        for name, (urls, weight) in backends.items():
            if weight < 0:
                raise ValueError(f"negative weight for revision {name!r}")
            clean = []
            for url in urls:
                parts = urlsplit(url)
                if parts.scheme != "http" or not parts.hostname or not parts.port:
                    raise ValueError(f"backend must be http://host:port, got {url!r}")
                clean.append(f"http://{parts.hostname}:{parts.port}")
            table[name] = _Revision(name=name, backends=clean, weight=float(weight))
        with self._lock:
            for name, rev in table.items():
                old = self._revisions.get(name)
                if old is not None:
                    rev.next_backend = old.next_backend
            self._stats.ensure(table)
            self._revisions = table
            self._routed = frozenset(u for rev in table.values() for u in rev.backends)
        self._upstreams.discard(keep=set(self._routed))

    def backends(self) -> dict[str, tuple[list[str], float]]:
        """The current routing table (a copy)."""
        with self._lock:
            return {n: (list(r.backends), r.weight) for n, r in self._revisions.items()}

    def inflight(self, urls: Sequence[str] | None = None) -> int:
        """How many requests are being forwarded now (to ``urls`` only, if given)."""
        with self._lock:
            if urls is None:
                return sum(self._inflight.values())
            return sum(self._inflight.get(u.rstrip("/"), 0) for u in urls)

    def wait_idle(self, urls: Sequence[str], timeout: float) -> bool:
        """Wait until no request is in flight to ``urls`` (used to drain before stopping them)."""
        wanted = [u.rstrip("/") for u in urls]
        deadline = time.monotonic() + timeout
        with self._idle:
            while any(self._inflight.get(u, 0) for u in wanted):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    # -- statistics (kept by a RevisionStats, see router_stats) ----------------------------------

    @property
    def max_samples(self) -> int:
        """The timestamped samples kept per revision."""
        return self._stats.max_samples

    @property
    def clock(self) -> Callable[[], float]:
        """What stamps the samples (monotonic seconds)."""
        return self._stats.clock

    def stats(self, revision: str, *, reset: bool = False, samples: bool = False) -> dict[str, Any]:
        """Counters of ``revision`` since the last reset.

        ``{"revision", "requests", "errors", "error_rate", "samples", "p50_ms", "p99_ms"}`` plus
        ``"latencies_ms"`` (every kept sample, oldest first) when ``samples=True``. ``reset=True``
        reads and zeroes them atomically.
        """
        return self._stats.since_reset(revision, reset=reset, samples=samples)

    def window(self, revision: str, seconds: float) -> dict[str, Any]:
        """What ``revision`` served over the last ``seconds`` (by the router's clock).

        ``{"revision", "window_seconds", "requests", "errors", "error_rate", "p50_ms", "p99_ms",
        "truncated"}``; ``error_rate`` and the percentiles are None without requests. ``truncated``
        says the window reaches further back than the samples kept (``max_samples``). Resets
        (:meth:`reset_stats`) clear the samples too.
        """
        return self._stats.window(revision, seconds)

    def all_stats(self) -> dict[str, dict[str, Any]]:
        """:meth:`stats` of every revision the router has seen."""
        return {n: self.stats(n) for n in self._stats.names()}

    def reset_stats(self, revision: str | None = None) -> None:
        """Zero the counters of ``revision`` (of every revision if None)."""
        self._stats.reset(revision)

    def samples_between(self, revision: str, since: float, until: float) -> list[tuple[float, float, bool]]:
        """The samples of ``revision`` stamped in [since, until) by the router's clock (monitoring)."""
        return self._stats.between(revision, since, until)

    def prune_stats(self, keep: Sequence[str]) -> None:
        """Forget the statistics of revisions neither routed now nor named in ``keep``."""
        with self._lock:
            self._stats.prune(set(keep) | set(self._revisions))

    # -- choosing and forwarding -----------------------------------------------------------------

    def _pick_revision(self) -> _Revision | None:
        """Smooth weighted round robin (nginx's algorithm); call with the lock held."""
        live = [r for r in self._revisions.values() if r.weight > 0 and r.backends]
        if not live:
            return None
        total = sum(r.weight for r in live)
        best = None
        for r in live:
            r.current += r.weight
            if best is None or r.current > best.current:
                best = r
        assert best is not None
        best.current -= total
        return best

    def _choose(self, tried: set[str]) -> tuple[_Revision | None, str | None]:
        """Pick a revision, then its next backend not yet tried (backends recently down last), and
        count the request in flight to it -- all under the lock, so that once :meth:`set_backends`
        returns, every request still headed to a removed backend shows in :meth:`inflight`."""
        with self._lock:
            rev = self._pick_revision()
            if rev is None:
                return None, None
            n = len(rev.backends)
            start = rev.next_backend % n
            rev.next_backend = (start + 1) % n
            ordered = [u for u in rev.backends[start:] + rev.backends[:start] if u not in tried]
            if not ordered:
                return rev, None
            now = time.monotonic()
            up = [u for u in ordered if self._down_until.get(u, 0.0) <= now]
            url = (up or ordered)[0]
            self._inflight[url] = self._inflight.get(url, 0) + 1
            return rev, url

    def _done(self, url: str) -> None:
        with self._idle:
            self._inflight[url] -= 1
            if not self._inflight[url]:
                del self._inflight[url]
                self._idle.notify_all()

    def forward(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Upstream:
        """Send one request to a chosen backend and return its full response (a 502 when it fails,
        a 504 when it does not answer within ``backend_timeout``).

        A backend that refuses the connection is skipped and the choice made again (nothing was
        sent, so this is safe for any method). Connections to backends are kept alive and reused
        for idempotent methods; one the backend had closed meanwhile is replaced by a new one.
        """
        started = time.perf_counter()
        tried: set[str] = set()
        rev: _Revision | None = None
        result: Upstream | None = None
        last_error = "no backend"
        for _attempt in range(self.max_attempts):
            rev, url = self._choose(tried)
            if rev is None:
                return error_response(502, "no backend", None)
            if url is None:
                break
            try:
                sent = self._exchange(url, method, target, headers, body, rev.name)
            finally:
                self._done(url)
            if isinstance(sent, str):  # could not connect: nothing was sent, choose again
                last_error = sent
                tried.add(url)
                with self._lock:
                    self._down_until[url] = time.monotonic() + self.down_seconds
                continue
            with self._lock:
                self._down_until.pop(url, None)
            result = sent
            break
        name = rev.name if rev is not None else None
        if result is None:
            result = error_response(502, "no backend answered", name, detail=last_error)
        self._stats.record(name, result.status, time.perf_counter() - started)
        return result

    def _exchange(
        self, url: str, method: str, target: str, headers: list[tuple[str, str]], body: bytes, revision: str
    ) -> Upstream | str:
        """One request to ``url``: its response, the router's 502/504, or why it could not connect."""
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        payload = body if body or method in BODY_METHODS else None
        send_headers = dict(merge_headers(headers))
        reuse = method in IDEMPOTENT_METHODS
        while True:
            conn, reused = self._upstreams.take(url, parts.hostname, parts.port, reuse=reuse)
            if not reused:
                try:
                    conn.connect()
                except OSError as exc:
                    conn.close()
                    return f"{url}: {exc}"
            try:
                conn.request(method, target, body=payload, headers=send_headers)
                resp = conn.getresponse()
                data = resp.read()
            except TimeoutError:
                conn.close()
                detail = f"{url}: no answer within {self.backend_timeout:g} s"
                return error_response(504, "backend timed out", revision, detail=detail)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and isinstance(exc, _STALE):
                    continue  # the backend had closed this idle connection: a new one (idempotent methods)
                detail = f"{url}: {type(exc).__name__}: {exc}"
                return error_response(502, "bad gateway", revision, detail=detail)
            if resp.will_close or url not in self._routed:  # no idle connection to a removed backend
                conn.close()
            else:
                self._upstreams.give(url, conn)
            return Upstream(resp.status, resp.reason, resp.getheaders(), data, revision)
