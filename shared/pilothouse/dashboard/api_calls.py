"""The API's read operations called in process, with the caller's own credentials.

A fragment never reads the store itself: it asks the operation that answers ``GET /v1/...`` with
the request's ``Authorization`` header, so what it shows is what that caller may read, counted and
refused the way the API counts and refuses it.

    calls = ApiCalls({"authorization": "Bearer ph_..."}, request_id="r1")
    calls.get("list_components", "/v1/components", query={"limit": "500"})  # the API's answer
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from pilothouse.runtime.events import http_event

Handler = Callable[[dict, Any], dict]

_lock = threading.Lock()
_handlers: dict[str, Handler] = {}


class ApiProblem(Exception):
    """An API call answered an error: its status and problem+json body."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or str(status))
        self.status = status
        self.problem = problem


def _operation(name: str) -> Any:
    """The read operation ``name`` (imported on first use: a page loads only what it shows)."""
    from pilothouse.api import audit, component_reads, components, deployments, keys, metrics, workflows

    for module in (component_reads, components, deployments, workflows, metrics, audit, keys):
        op = getattr(module, name, None)
        if op is not None:
            return op
    raise LookupError(f"no read operation {name}")


def handler_of(name: str) -> Handler:
    """The Lambda handler of one operation, built once per process."""
    with _lock:
        found = _handlers.get(name)
        if found is None:
            from pilothouse.runtime.http import http_function

            found = _handlers[name] = http_function(_operation(name))
        return found


def path(template: str, **params: str) -> str:
    """``template`` with each ``{name}`` replaced by its percent-encoded value."""
    out = template
    for key, value in params.items():
        out = out.replace("{" + key + "}", quote(value, safe=""))
    return out


class ApiCalls:
    """Read operations on behalf of one dashboard request."""

    def __init__(self, headers: dict[str, str], *, request_id: str, source_ip: str = "127.0.0.1") -> None:
        self.headers = {k: v for k, v in headers.items() if k in ("authorization", "x-api-key")}
        self.request_id = request_id
        self.source_ip = source_ip
        self.calls = 0

    def get(
        self,
        operation: str,
        route: str,
        *,
        params: dict[str, str] | None = None,
        query: dict[str, Any] | None = None,
    ) -> Any:
        """The JSON answer of ``GET route`` (``params`` fill its ``{captures}``); ApiProblem on an error."""
        query_text = urlencode([(k, v) for k, v in (query or {}).items() if v not in (None, "")], doseq=True)
        self.calls += 1
        event = http_event(
            "GET",
            path(route, **(params or {})),
            query=query_text,
            headers=self.headers,
            route_key=f"GET {route}",
            path_parameters=params or None,
            source_ip=self.source_ip,
            request_id=f"{self.request_id}.{self.calls}",
        )
        answer = handler_of(operation)(event, None)
        body = answer.get("body") or ""
        data = json.loads(body) if body else None
        status = int(answer.get("statusCode") or 500)
        if status >= 400:
            raise ApiProblem(status, data if isinstance(data, dict) else {"detail": str(data)})
        return data

    def collect(self, operation: str, route: str, *, query: dict[str, Any], most: int) -> list[dict]:
        """Every item of a paginated list, following ``next_cursor`` up to ``most`` items."""
        items: list[dict] = []
        cursor: str | None = None
        while len(items) < most:
            page = self.get(operation, route, query={**query, "cursor": cursor})
            items.extend(page.get("items") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return items[:most]
