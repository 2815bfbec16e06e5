"""Server-sent events on the local gateway: a GET route's answer, streamed each time it changes.

API Gateway cannot hold a response open; this gateway can. ``GET /ui/stream?path=/ui/deployments/d1``
(the dashboard's live parts) re-requests ``path`` through the gateway once a ``interval`` with the
caller's own headers and ``If-None-Match`` of the last answer, and sends

    event: fragment
    data: <the answer, one data: line per line>

whenever the answer changed (a 304 sends nothing but, now and then, a ``: keep-alive`` comment).
An error answer (401, 403, 404...) is sent as ``event: problem`` and ends the stream; a stream ends
after ``lifetime`` seconds anyway (the browser reconnects), so a shutdown never waits on one.
Every re-request is an ordinary request of the route: authenticated, limited and logged as one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from urllib.parse import parse_qsl, urlsplit

from pilothouse.embedded.gateway import LocalGateway
from pilothouse.embedded.gateway_problems import new_request_id
from pilothouse.errors import PilothouseError

STREAM_PATH = "/ui/stream"
#: what a stream may follow: the dashboard's fragments, never the stream itself
FOLLOWS = "/ui/"
PASSED_HEADERS = ("authorization", "x-api-key", "user-agent", "accept-language")


class StreamSlots:
    """How many streams may be open at once (one event loop: no lock)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0

    def take(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give(self) -> None:
        self.open -= 1


def followed(query: str) -> tuple[str, str] | None:
    """(path, query) of the route a stream follows, or None when it may not follow it."""
    target = dict(parse_qsl(query)).get("path") or ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith(FOLLOWS) or parts.path == STREAM_PATH:
        return None
    if ".." in parts.path.split("/"):
        return None
    return parts.path, parts.query


def event_block(kind: str, text: str) -> bytes:
    """One server-sent event: its name and each line of ``text`` as a ``data:`` line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return (f"event: {kind}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()


async def stream(
    gateway: LocalGateway,
    executor: Executor,
    path: str,
    query: str,
    headers: dict[str, str],
    *,
    interval: float = 1.0,
    lifetime: float = 60.0,
    keep_alive: float = 15.0,
    gone: Callable[[], bool] = lambda: False,
) -> AsyncIterator[bytes]:
    """The events of one stream (see the module's docstring); it ends at the first tick after
    ``gone()`` says the client left."""
    passed = {k: v for k, v in headers.items() if k in PASSED_HEADERS}
    etag: str | None = None
    loop = asyncio.get_running_loop()
    started = last_sent = loop.time()
    yield b"retry: 2000\n\n"
    while loop.time() - started < lifetime and not gone():
        found = gateway.resolve("GET", path)
        if isinstance(found, PilothouseError):
            yield event_block("problem", f"no route for {path}")
            return
        ask = {**passed, **({"if-none-match": etag} if etag else {})}
        call = functools.partial(gateway.invoke, found, path, query, ask, b"", request_id=new_request_id())
        status, out_headers, body = await loop.run_in_executor(executor, call)
        lowered = {k.lower(): v for k, v in out_headers.items()}
        if status == 200:
            etag = lowered.get("etag")
            yield event_block("fragment", body.decode("utf-8", "replace"))
            last_sent = loop.time()
        elif status != 304:
            yield event_block("problem", f"{status} {body.decode('utf-8', 'replace')[:500]}")
            return
        elif loop.time() - last_sent >= keep_alive:
            yield b": keep-alive\n\n"
            last_sent = loop.time()
        await asyncio.sleep(interval)
