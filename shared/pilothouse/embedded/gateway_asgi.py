"""The local gateway as an ASGI app: one HTTP request → one payload-2.0 event → one function.

Per request: route it first (404/405 without reading the body), call the function at once when the
head declares no body (neither Content-Length nor Transfer-Encoding), refuse a declared body over
the limit at once (413), stream the body and stop at ``max_body_bytes + 1`` (413, nothing more is read),
give up on a body that takes longer than ``body_timeout`` (408), then run the blocking function
call in a thread pool so the event loop keeps serving other connections. The gateway's own answers
close the connection when the body was not read to its end.

A response body may be bytes or an async iterator of bytes (sent as it comes, chunked), which is
what server-sent events will need.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor
from typing import Any

from pilothouse.embedded.gateway import Dispatch, LocalGateway, too_large
from pilothouse.embedded.gateway_problems import Overloaded, RequestTimeout, new_request_id, problem_answer
from pilothouse.embedded.gateway_sse import STREAM_PATH, StreamSlots, followed, stream
from pilothouse.errors import PilothouseError, ValidationFailed

__all__ = ["GatewayApp"]

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Headers of one hop (RFC 9110 section 7.6.1): the server decides them, never the function.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
        "proxy-connection",
    }
)


class _BodyTooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


class _OverBudget(Exception):
    pass


class _BodyBudget:
    """Bytes of request bodies held in memory by all connections together (one event loop: no lock).

    Each connection may hold up to the body limit for up to the body timeout; without a shared
    budget, a few thousand slow anonymous uploads would hold gigabytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        if self.used + size > self.limit:
            raise _OverBudget
        self.used += size

    def give(self, size: int) -> None:
        self.used -= size


def _merged_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as one string per lower-case name (repeats joined as HTTP allows)."""
    out: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        if key in out:
            out[key] = f"{out[key]}{'; ' if key == 'cookie' else ','}{text}"
        else:
            out[key] = text
    return out


async def _read_body(receive: Receive, limit: int, budget: _BodyBudget, held: list[int]) -> bytes:
    """The whole request body, refusing it as soon as it exceeds ``limit`` bytes or the shared
    ``budget``; ``held[0]`` says how much of the budget it holds (the caller gives it back)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        if chunk:
            budget.take(len(chunk))
            held[0] += len(chunk)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_answer(
    send: Send, status: int, headers: dict[str, str], body: bytes | AsyncIterator[bytes]
) -> None:
    """Write one response: bytes with a Content-Length, or an async iterator of bytes chunked."""
    raw = [
        (k.encode("latin-1"), str(v).encode("latin-1", "replace"))
        for k, v in headers.items()
        if k.lower() not in _HOP_BY_HOP
    ]
    if headers.get("connection") == "close":
        raw.append((b"connection", b"close"))
    if isinstance(body, bytes | bytearray):
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": bytes(body)})
        return
    await send({"type": "http.response.start", "status": status, "headers": raw})
    async for chunk in body:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


class GatewayApp:
    """ASGI 3 app in front of a :class:`LocalGateway`; functions run on ``executor``."""

    def __init__(
        self,
        gateway: LocalGateway,
        executor: Executor,
        *,
        body_timeout: float,
        max_buffered_bytes: int = 64 * 1024 * 1024,
        max_streams: int = 64,
    ) -> None:
        self.gateway = gateway
        self.executor = executor
        self.body_timeout = body_timeout
        self.budget = _BodyBudget(max_buffered_bytes)
        self.streams = StreamSlots(max_streams)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = new_request_id()
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        query = scope.get("query_string", b"").decode("latin-1")
        headers = _merged_headers(scope["headers"])

        def problem(error: PilothouseError, *, close: bool = False) -> Awaitable[None]:
            answer = problem_answer(error, request_id=request_id, instance=path, close=close)
            return send_answer(send, *answer)

        if path.split("?")[0] == STREAM_PATH and scope["method"] == "GET":
            await self._stream(send, receive, query, headers, problem)
            return
        found = self.gateway.resolve(scope["method"], path)
        if isinstance(found, PilothouseError):
            await problem(found)
            return
        if "content-length" not in headers and "transfer-encoding" not in headers:
            # no body (RFC 9112 section 6.3): nothing to read, no timer to arm, no budget to hold
            await self._invoke(send, found, path, query, headers, b"", request_id)
            return
        limit = self.gateway.max_body_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await problem(too_large(limit), close=True)
            return
        held = [0]
        try:
            try:
                async with asyncio.timeout(self.body_timeout):
                    body = await _read_body(receive, limit, self.budget, held)
            except _BodyTooLarge:
                await problem(too_large(limit), close=True)
                return
            except _OverBudget:
                await problem(Overloaded("too many request bodies are in flight; retry shortly"), close=True)
                return
            except TimeoutError:
                late = RequestTimeout(f"the request body did not arrive within {self.body_timeout:g} s")
                await problem(late, close=True)
                return
            except _Disconnected:
                return
            await self._invoke(send, found, path, query, headers, body, request_id)
        finally:
            self.budget.give(held[0])

    async def _stream(
        self, send: Send, receive: Receive, query: str, headers: dict[str, str], problem: Any
    ) -> None:
        """Server-sent events of a dashboard fragment (:mod:`pilothouse.embedded.gateway_sse`)."""
        target = followed(query)
        if target is None:
            await problem(ValidationFailed.field("path", "a path under /ui/ of this gateway"))
            return
        if not self.streams.take():
            await problem(Overloaded("too many event streams are open; poll instead"))
            return
        gone = asyncio.Event()

        async def watch() -> None:  # a stream ends within one interval of its client leaving
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        async def until_gone() -> AsyncIterator[bytes]:
            async for chunk in stream(
                self.gateway, self.executor, target[0], target[1], headers, gone=gone.is_set
            ):
                if gone.is_set():
                    return
                yield chunk

        watcher = asyncio.create_task(watch())
        sse_headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-store",
            "x-content-type-options": "nosniff",
        }
        try:
            await send_answer(send, 200, sse_headers, until_gone())
        finally:
            watcher.cancel()
            self.streams.give()

    async def _invoke(
        self,
        send: Send,
        dispatch: Dispatch,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
    ) -> None:
        call = functools.partial(
            self.gateway.invoke, dispatch, path, query, headers, body, request_id=request_id
        )
        status, out_headers, out = await asyncio.get_running_loop().run_in_executor(self.executor, call)
        await send_answer(send, status, out_headers, out)
