"""What the local gateway answers by itself, as RFC 9457 problems with a request id.

No route, a method the route does not allow, a body too large or too slow, a malformed or oversized
request head: the gateway answers these without calling a function, always as
``application/problem+json`` with an ``X-Request-Id`` header and the same id (and the path, as
``instance``) in the body. The functions' own answers come from :mod:`pilothouse.runtime.http`.
"""

from __future__ import annotations

import json

from pilothouse.embedded import ids
from pilothouse.errors import PilothouseError

__all__ = [
    "BadGateway",
    "HeadersTooLarge",
    "MethodNotImplemented",
    "Overloaded",
    "RequestTimeout",
    "UriTooLong",
    "new_request_id",
    "problem_answer",
]


class RequestTimeout(PilothouseError):
    """The request (its head or its body) did not arrive in time."""

    status, code, title = 408, "request-timeout", "Request timeout"


class UriTooLong(PilothouseError):
    status, code, title = 414, "uri-too-long", "URI too long"


class HeadersTooLarge(PilothouseError):
    status, code, title = 431, "request-header-fields-too-large", "Request header fields too large"


class MethodNotImplemented(PilothouseError):
    """A request method the gateway does not recognise at all (RFC 9110 section 9.1)."""

    status, code, title = 501, "not-implemented", "Not implemented"


class Overloaded(PilothouseError):
    """Too many request bodies are held in memory at once; the client should come back shortly."""

    status, code, title = 503, "overloaded", "Service unavailable"

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class BadGateway(PilothouseError):
    """The function behind a route failed instead of answering."""

    status, code, title = 502, "bad-gateway", "Bad gateway"


def new_request_id() -> str:
    """A fresh request id (what API Gateway puts in ``requestContext.requestId``)."""
    return ids.request_id()


def problem_answer(
    error: PilothouseError, *, request_id: str, instance: str | None = None, close: bool = False
) -> tuple[int, dict[str, str], bytes]:
    """``(status, headers, body)`` of ``error`` as problem+json; ``close`` asks to end the connection."""
    body = json.dumps(error.problem(instance=instance, request_id=request_id)).encode()
    headers = {k.lower(): v for k, v in error.headers.items()}
    headers.update({"content-type": "application/problem+json", "x-request-id": request_id})
    if close:
        headers["connection"] = "close"
    return error.status, headers, body
