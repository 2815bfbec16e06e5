"""The API's read operations called in process, as the caller.

A fragment never reads the store itself: it calls the endpoint function of the operation that
answers ``GET /v1/...`` (the same code, the same answer) after checking the permission the operation
catalogue gives that operation, for the principal the fragment authenticated. What a page shows is
what its caller may read through the API. Calling the endpoint in process (no HTTP event, no JSON
round trip) keeps the overview of 1,000 components well under its time budget.

    calls = ApiCalls(services, principal, request_id="r1")
    calls.call("list_components", limit=500)  # {"items": [...], "next_cursor": ...}
"""

from __future__ import annotations

import json
from typing import Any

from pilothouse.errors import PilothouseError
from pilothouse.runtime.context import RequestContext, activate, deactivate


class ApiProblem(Exception):
    """An operation refused or failed: its status and problem details."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title") or str(status))
        self.status = status
        self.problem = problem


def operation_of(name: str) -> Any:
    """The read operation ``name`` (imported on first use: a page loads only what it shows)."""
    from pilothouse.api import audit, component_reads, components, deployments, keys, metrics, workflows

    for module in (component_reads, components, deployments, workflows, metrics, audit, keys):
        op = getattr(module, name, None)
        if op is not None and getattr(op, "method", None) == "GET":
            return op
    raise LookupError(f"no read operation {name}")


class ApiCalls:
    """Read operations on behalf of one dashboard request."""

    def __init__(self, services: Any, principal: Any, *, request_id: str) -> None:
        self.services = services
        self.principal = principal
        self.request_id = request_id
        self.calls = 0

    def call(self, operation: str, /, **arguments: Any) -> Any:
        """The answer of the read operation ``operation`` called with ``arguments`` (its parameters);
        ApiProblem with the API's status when the caller may not read it or it fails."""
        op = operation_of(operation)
        if op.permission is not None and not self.principal.can(op.permission):
            role = self.principal.role.label
            detail = f"{operation} needs permission {op.permission.value}; role {role} does not hold it"
            raise ApiProblem(403, {"title": "Forbidden", "status": 403, "detail": detail})
        self.calls += 1
        ctx = RequestContext(
            request_id=f"{self.request_id}.{self.calls}", operation=operation, services=self.services
        )
        ctx.principal = self.principal
        token = activate(ctx)
        try:
            answer = op.func(**arguments)
        except PilothouseError as exc:
            raise ApiProblem(
                exc.status, {"title": exc.title, "status": exc.status, "detail": str(exc)}
            ) from None
        finally:
            deactivate(token)
        body = getattr(answer, "body", answer)  # a Response: its body
        return json.loads(body) if isinstance(body, str | bytes) else body

    def collect(self, operation: str, /, *, most: int, **arguments: Any) -> list[dict]:
        """Every item of a paginated list, following ``next_cursor`` up to ``most`` items."""
        items: list[dict] = []
        cursor: str | None = None
        while len(items) < most:
            page = self.call(operation, **arguments, cursor=cursor)
            items.extend(page.get("items") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return items[:most]
