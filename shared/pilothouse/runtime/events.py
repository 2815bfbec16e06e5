"""Building trigger events as AWS delivers them: API Gateway HTTP API (payload 2.0) and SQS.

The local gateway and worker, the tests and ``pilothouse invoke`` all build events here, so there
is one converter to get right (as chalice's LocalGateway does).
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

TEXT_TYPES = (
    "application/json",
    "application/problem+json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/yaml",
    "application/x-yaml",
)


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return True
    ctype = content_type.split(";")[0].strip().lower()
    return ctype.startswith("text/") or ctype in TEXT_TYPES or ctype.endswith("+json")


def http_event(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    route_key: str | None = None,
    path_parameters: dict[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    stage: str = "$default",
    request_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload-2.0 event (headers lower-cased, repeated ones comma-joined)."""
    lowered, cookies = event_headers(headers)
    params = query_parameters(query)
    raw = body.encode() if isinstance(body, str) else (body or b"")
    text = _is_text(lowered.get("content-type"))
    now = time.time() if now is None else now
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key or f"{method.upper()} {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": "local",
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": request_id or _new_request_id(),
            "routeKey": route_key or f"{method.upper()} {path}",
            "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": bool(raw) and not text,
    }
    if params:
        event["queryStringParameters"] = params
    if path_parameters:
        event["pathParameters"] = path_parameters
    if cookies:
        event["cookies"] = cookies
    if raw:
        event["body"] = raw.decode("utf-8", errors="replace") if text else base64.b64encode(raw).decode()
    return event


def event_headers(headers: dict[str, str] | None) -> tuple[dict[str, str], list[str]]:
    """A request's headers as an event carries them: lower-cased names, repeats comma-joined, and
    the cookies apart (``Cookie`` is split into the event's ``cookies``)."""
    lowered: dict[str, str] = {}
    cookies: list[str] = []
    for key, value in (headers or {}).items():
        k = key.lower()
        if k == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
            continue
        lowered[k] = f"{lowered[k]},{value}" if k in lowered else value
    return lowered, cookies


def query_parameters(query: str) -> dict[str, str]:
    """An event's ``queryStringParameters`` of a raw query string (repeats comma-joined)."""
    params: dict[str, str] = {}
    if query:
        for k, v in parse_qsl(query, keep_blank_values=True):
            params[k] = f"{params[k]},{v}" if k in params else v
    return params


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request as the local gateway received and routed it: what :func:`http_event` turns into
    an event, and what a function's direct read path (``runtime.http_direct``) serves without one.

    ``headers`` are as received (any case); ``route_key`` and ``path_parameters`` are the route's.
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    route_key: str
    path_parameters: dict[str, str] | None
    request_id: str

    def event(self) -> dict[str, Any]:
        """The payload-2.0 event of this request."""
        return http_event(
            self.method,
            self.path,
            query=self.query,
            headers=self.headers,
            body=self.body,
            route_key=self.route_key,
            path_parameters=self.path_parameters,
            request_id=self.request_id,
        )


def http_result(result: Any) -> tuple[int, dict[str, str], bytes]:
    """A handler's return value as (status, headers, body), with HTTP API's payload-2.0 rules."""
    if not isinstance(result, dict) or "statusCode" not in result:
        import json

        return 200, {"content-type": "application/json"}, json.dumps(result).encode()
    headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
    for k, values in (result.get("multiValueHeaders") or {}).items():
        headers[k.lower()] = ",".join(str(v) for v in values)
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    if result.get("cookies"):
        headers["set-cookie"] = ", ".join(result["cookies"])
    return int(result["statusCode"]), headers, raw


def sqs_record(
    queue: str,
    *,
    message_id: str,
    receipt_handle: str,
    body: str,
    receive_count: int,
    sent_at: float,
    attributes: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": receipt_handle,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(int(sent_at * 1000)),
            "SenderId": "000000000000",
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
        },
        "messageAttributes": {
            k: {"stringValue": v, "dataType": "String", "stringListValues": [], "binaryListValues": []}
            for k, v in (attributes or {}).items()
        },
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:000000000000:{queue}",
        "awsRegion": "us-east-1",
    }


def sqs_event(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {"Records": list(records)}


def _new_request_id() -> str:
    import uuid  # (with platform, ~3 ms of a cold start that never makes an event)

    return uuid.uuid4().hex
