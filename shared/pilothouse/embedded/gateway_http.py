"""The local gateway's HTTP/1.1 connection: uvicorn's httptools protocol with limits on the head.

uvicorn bounds neither the request line nor the headers, has no timeout for a head that never
completes, and answers malformed requests in plain text. This protocol adds, while the head is
being read:

* ``max_url_bytes`` on the request target (414) and ``max_header_bytes`` on the header fields
  (431); a head that grows past both without completing is refused without buffering more;
* ``head_timeout`` from a connection's first byte of a request (or from its opening) until the
  head is complete (408, or a quiet close if nothing was sent);
* problem+json answers with a request id for whatever the parser rejects: 400 for malformed
  requests (a bad Content-Length, bad chunk sizes...), 501 for a method nobody knows.

Every such answer closes the connection. The body is the ASGI app's business (see gateway_asgi).
"""

from __future__ import annotations

import asyncio
import http
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pilothouse.embedded.gateway_problems import (
    HeadersTooLarge,
    MethodNotImplemented,
    RequestTimeout,
    UriTooLong,
    new_request_id,
    problem_answer,
)
from pilothouse.errors import BadRequest, PilothouseError

__all__ = ["GatewayHttpProtocol", "protocol_class"]


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request the gateway refuses."""


class GatewayHttpProtocol(HttpToolsProtocol):
    """One client connection (see the module's docstring); limits are class attributes."""

    max_url_bytes = 8192
    max_header_bytes = 16384
    head_timeout = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._in_head = True
        self._head_bytes = 0  # bytes fed while the current head is incomplete
        self._header_bytes = 0
        self._refusal: PilothouseError | None = None
        self._got_bytes = False
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    # -- the head timer --------------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._in_head:
            return
        if self._got_bytes:
            self._refuse(RequestTimeout(f"the request head did not arrive within {self.head_timeout:g} s"))
        else:
            self.transport.close()  # an idle connection that never sent a request

    # -- parsing ---------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._got_bytes = True
        was_in_head = self._in_head
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # no upgrades here (no WebSockets): the request is served as plain HTTP
        except httptools.HttpParserInvalidMethodError:
            self._refuse(MethodNotImplemented("the request method is not recognised"))
        except httptools.HttpParserError as exc:
            self._refuse(self._refusal or BadRequest(f"malformed HTTP request: {exc}"))
        else:
            if was_in_head and self._in_head:
                self._head_bytes += len(data)
                if self._head_bytes > self.max_url_bytes + self.max_header_bytes:
                    self._refuse(self._head_too_large())

    def _head_too_large(self) -> PilothouseError:
        if not self.headers:
            return UriTooLong(f"the request target exceeds {self.max_url_bytes} bytes")
        return HeadersTooLarge(f"the request header fields exceed {self.max_header_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._header_bytes = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.max_url_bytes:
            self._refusal = UriTooLong(f"the request target exceeds {self.max_url_bytes} bytes")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.max_header_bytes:
            self._refusal = HeadersTooLarge(f"the request header fields exceed {self.max_header_bytes} bytes")
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._cancel_head_timer()
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # the cycle just made
            cycle.transport = _HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]

    # -- answers ---------------------------------------------------------------------------------

    def _instance(self) -> str | None:
        url = getattr(self, "url", b"") or b""
        path = url.split(b"?", 1)[0][:256].decode("latin-1")
        return path if path.startswith("/") else None

    def _refuse(self, error: PilothouseError) -> None:
        """Answer ``error`` as problem+json and close the connection."""
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        status, headers, body = problem_answer(
            error, request_id=new_request_id(), instance=self._instance(), close=True
        )
        lines = [f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [f"{k}: {v}".encode("latin-1") for k, v in headers.items()]
        lines.append(f"content-length: {len(body)}".encode())
        self.transport.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        self.transport.close()

    def send_400_response(self, msg: str) -> None:  # uvicorn's own path, kept problem+json too
        self._refuse(BadRequest(msg))


class _HeadWithBody:
    """The connection's transport as one request's response cycle sees it: the response head is
    held back and written together with the first body bytes, one ``send`` where uvicorn makes two
    (each a system call, each a chance for a function thread to take the GIL from the event loop).

    A head whose body does not follow in the same turn of the event loop (a stream waiting for its
    first event) is written at the loop's next turn on its own, so no client ever waits for it;
    closing writes what is held first. Everything else is the transport's own.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        if not self._started:  # the head: hold it until the body comes (or the loop turns)
            self._started = True
            self._held = data
            self._loop.call_soon(self._flush)
            return
        if self._held is not None:
            data, self._held = self._held + data, None
        self._transport.write(data)

    def _flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def protocol_class(
    *, max_url_bytes: int, max_header_bytes: int, head_timeout: float
) -> type[GatewayHttpProtocol]:
    """A :class:`GatewayHttpProtocol` with these limits (uvicorn builds one instance per connection)."""
    limits: dict[str, Any] = {
        "max_url_bytes": max_url_bytes,
        "max_header_bytes": max_header_bytes,
        "head_timeout": head_timeout,
    }
    return type("GatewayProtocol", (GatewayHttpProtocol,), limits)
