"""An HTTP operation as the runtime serves it: the catalogue's method, route and permission, and what
the endpoint declares (summary, tag, status, the resource it acts on, secrets shown once, its
answer model for the OpenAPI document)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
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
    #: error statuses the operation may answer beyond those its shape implies (:func:`error_statuses`)
    errors: tuple[int, ...] = ()
    #: the media type of a successful answer
    media_type: str = "application/json"
    #: the audit record of a successful call goes in the transaction of the change it makes (where
    #: the store's transactions span partitions): for endpoints whose one change is their last write
    audit_in_commit: bool = False


#: what ``ROUTES`` answers for a name it does not hold
_MISSING: Any = object()


def operation(
    *,
    summary: str,
    tag: str,
    status: int = 200,
    resource: Callable[[dict[str, str]], str | None] | None = None,
    secret_fields: tuple[str, ...] = (),
    response: str | None = None,
    also: tuple[int, ...] = (),
    errors: tuple[int, ...] = (),
    media_type: str = "application/json",
    audit_in_commit: bool = False,
) -> Callable[[Callable[..., Any]], Operation]:
    """Declare an endpoint. The function's name is the operation's name; its method, route and
    permission are the operation catalogue's (:mod:`pilothouse.catalogue`), written once there
    and read from its generated table of routes (:mod:`pilothouse.runtime.catalogue_routes`)."""
    from pilothouse.runtime.catalogue_routes import ROUTES

    def wrap(func: Callable[..., Any]) -> Operation:
        route = ROUTES.get(func.__name__, _MISSING)
        if route is _MISSING:
            raise KeyError(
                f"{func.__name__!r} is not in the operation catalogue (shared/pilothouse/catalogue.py)"
            )
        if route is None:
            raise TypeError(f"{func.__name__} is not an HTTP operation in the catalogue")
        method, path, permission = route
        return Operation(
            name=func.__name__,
            method=method,
            path=path,
            func=func,
            permission=Permission(permission) if permission is not None else None,
            summary=summary,
            tag=tag,
            status=status,
            mutating=method not in ("GET", "HEAD", "OPTIONS"),
            resource=resource or (lambda params: None),
            secret_fields=secret_fields,
            response=response,
            also=also,
            errors=errors,
            media_type=media_type,
            audit_in_commit=audit_in_commit,
        )

    return wrap


def path_parameters(op: Operation) -> list[str]:
    """The names of the parameters in the operation's route (``/v1/components/<name>``)."""
    return [part[1:-1] for part in op.path.split("/") if part.startswith("<") and part.endswith(">")]


def error_statuses(op: Operation) -> list[int]:
    """The 4xx statuses a call of ``op`` can be answered with (always as problem+json).

    Implied by its shape: any operation answers 400 to a malformed HTTP request (the gateway's);
    an authenticated one 401 (no valid key), 403 (a role without the permission) and 429 (the
    gateway's throttling); a route naming a resource 404; one taking a query or a body 422 (input
    the models refuse; a cursor it did not issue is a 400); a mutating one 409 (a conflicting
    state, or an Idempotency-Key still in progress), 413 and 415 (a body too large, or not JSON)
    and 422 (an Idempotency-Key reused for another request). ``op.errors`` adds what the
    operation's service answers beyond these.
    """
    import inspect

    statuses = {400, *op.errors}
    captures = set(path_parameters(op))
    inputs = set(inspect.signature(op.func, eval_str=False).parameters) - captures
    if op.permission is not None:
        statuses |= {401, 403, 429}
    if captures:
        statuses.add(404)
    if inputs:
        statuses.add(422)
    if op.mutating:
        statuses |= {409, 413, 415, 422}
    return sorted(statuses)


def documented_responses(op: Operation) -> dict[int, Any]:
    """The OpenAPI responses of ``op``: its answer's model (Powertools documents it, and does not
    validate answers against it: the return annotation stays what runs) and its error statuses,
    each with the one :class:`~pilothouse.domain.answers.Problem` model."""
    from pilothouse.domain import answers

    responses: dict[int, Any] = {}
    for status in (op.status, *op.also):
        if status == 204:
            responses[status] = {"description": op.summary, "content": {}}
        elif op.response is not None:
            model = getattr(answers, op.response)
            responses[status] = {"description": op.summary, "content": {op.media_type: {"model": model}}}
    for status in error_statuses(op):
        responses[status] = {
            "description": HTTPStatus(status).phrase,
            "content": {"application/problem+json": {"model": answers.Problem}},
        }
    return responses
