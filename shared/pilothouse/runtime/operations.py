"""An HTTP operation as the runtime serves it: the catalogue's method, route and permission, and what
the endpoint declares (summary, tag, status, the resource it acts on, secrets shown once, its
answer model for the OpenAPI document)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pilothouse.domain.security import Permission


@dataclass(frozen=True)
class Operation:
    name: str
    method: str
    path: str
    func: Callable[..., Any]
    permission: Permission | None
    summary: str
    tag: str
    status: int = 200
    mutating: bool = False
    #: what a call acts on, from its path parameters (the audit record's ``target``)
    resource: Callable[[dict[str, str]], str | None] = field(default=lambda params: None)
    #: top-level fields of the answer that carry a secret shown once (a new API key): they are never
    #: kept by Idempotency-Key records, so a replay answers without them
    secret_fields: tuple[str, ...] = ()
    #: the name of the model of a successful answer in :mod:`pilothouse.domain.answers`, for the
    #: OpenAPI document only (answers are not run through it; only the OpenAPI function loads it)
    response: str | None = None
    #: other success statuses the answer may have (the same model), e.g. 200 for a no-op scale
    also: tuple[int, ...] = ()


def operation(
    *,
    summary: str,
    tag: str,
    status: int = 200,
    resource: Callable[[dict[str, str]], str | None] | None = None,
    secret_fields: tuple[str, ...] = (),
    response: str | None = None,
    also: tuple[int, ...] = (),
) -> Callable[[Callable[..., Any]], Operation]:
    """Declare an endpoint. The function's name is the operation's name; its method, route and
    permission are the operation catalogue's (:mod:`pilothouse.catalogue`), written once there."""
    from pilothouse.catalogue import Http, entry

    def wrap(func: Callable[..., Any]) -> Operation:
        trigger = entry(func.__name__).trigger
        if not isinstance(trigger, Http):
            raise TypeError(f"{func.__name__} is not an HTTP operation in the catalogue")
        return Operation(
            name=func.__name__,
            method=trigger.method,
            path=trigger.resolver_route,
            func=func,
            permission=trigger.permission,
            summary=summary,
            tag=tag,
            status=status,
            mutating=trigger.method not in ("GET", "HEAD", "OPTIONS"),
            resource=resource or (lambda params: None),
            secret_fields=secret_fields,
            response=response,
            also=also,
        )

    return wrap


def documented_responses(op: Operation) -> dict[int, Any] | None:
    """The OpenAPI responses entry naming the answer's model (Powertools documents it, and does not
    validate answers against it: the return annotation stays what runs)."""
    if op.response is None:
        return None
    from pilothouse.domain import answers

    model = getattr(answers, op.response)
    return {
        status: {"description": op.summary, "content": {"application/json": {"model": model}}}
        for status in (op.status, *op.also)
    }
