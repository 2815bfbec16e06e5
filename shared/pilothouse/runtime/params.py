"""Request validation for read routes: Powertools' checks and answers, with the per-route work done once.

Powertools' request validation (``OpenAPIRequestValidationMiddleware``) works out, on every
request, which of a route's parameters are scalars (a walk over each annotation's type tree) and
builds each optional parameter's default again: on a warm read such as
``GET /v1/components/{name}/config`` that was most of the function's CPU. :class:`ReadValidation`
takes its place on routes without a body (every GET): the route's plan — each path, query and
header parameter's Powertools field (with its compiled pydantic validator), where it comes from,
and its default — is made on the route's first request and kept, and each request then only
looks its values up and validates them with those fields.

What a request is answered stays Powertools': the same values reach the endpoint, and the same
``RequestValidationError`` (the same errors, locations included) reaches the resolver's handler,
which answers 401/403 before 422 as before. A route with a parameter this plan does not cover (a
cookie, a list or a model in the query, a body, anything but text, numbers, flags, enums
and literals) is validated by Powertools' middleware itself.
``tests/unit/test_read_validation.py`` compares the two on the same requests.

The values are read as Powertools reads an HTTP API (payload 2.0) event: a query parameter given
twice (``?a=1&a=2``) reaches a scalar field as a list (and fails it), one whose value holds a comma
as the text; a header is looked up case-insensitively, its value as the text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

#: defaults that can be handed to every request as they are (nothing can change them)
_IMMUTABLE = (type(None), bool, int, float, str, bytes, Enum, tuple, frozenset)


@dataclass(frozen=True)
class _Param:
    field: Any  # Powertools' ModelField: its validator is compiled once, with the route
    name: str  # the endpoint's parameter
    alias: str  # the name on the wire
    source: str  # path | query | header
    required: bool
    default: Any
    fresh_default: bool  # the default is mutable: ask the field for a new one each time

    @property
    def loc(self) -> tuple[str, str]:
        return (self.source, self.alias)


class _Fallback:
    """The route needs what the plan does not cover: Powertools validates it."""


def _simple(annotation: Any) -> bool:
    """Text, a number, a flag, an enum or a literal, or a union of them (``int | None``): what a
    single query or header value is validated as."""
    origin = get_origin(annotation)
    if origin is Literal:
        return True
    if origin in (Union, UnionType):
        return all(_simple(arg) for arg in get_args(annotation))
    if origin is Annotated:
        return _simple(get_args(annotation)[0])
    return (
        annotation is type(None)
        or annotation in (str, int, float, bool)
        or (isinstance(annotation, type) and issubclass(annotation, Enum))
    )


def _plan(route: Any) -> list[_Param] | _Fallback:
    from aws_lambda_powertools.event_handler.openapi.compat import is_scalar_field

    dependant = route.dependant
    if dependant.body_params or dependant.cookie_params or getattr(route, "has_dependencies", False):
        return _Fallback()
    params: list[_Param] = []
    for source, fields in (
        ("path", dependant.path_params),
        ("query", dependant.query_params),
        ("header", dependant.header_params),
    ):
        for field in fields:
            if not is_scalar_field(field) or not _simple(field.field_info.annotation):
                return _Fallback()
            required = bool(field.required)
            default = None if required else field.get_default()
            params.append(
                _Param(
                    field=field,
                    name=field.name,
                    alias=field.alias,
                    source=source,
                    required=required,
                    default=default,
                    fresh_default=not required and not isinstance(default, _IMMUTABLE),
                )
            )
    return params


def _repeated(raw_query: str | None) -> frozenset[str]:
    """The query parameters given more than once in the raw query string."""
    if not raw_query:
        return frozenset()
    return frozenset(k for k, v in parse_qs(raw_query, keep_blank_values=True).items() if len(v) > 1)


def _header(headers: dict[str, str], alias: str) -> str | None:
    value = headers.get(alias)
    if value is not None:
        return value
    lowered = alias.lower()
    for key, found in headers.items():  # headers are case-insensitive (a payload-2.0 event's are lower)
        if key.lower() == lowered:
            return found
    return None


def validate(plan: list[_Param], event: dict[str, Any], route_args: dict[str, Any]) -> dict[str, Any]:
    """The endpoint's arguments from one event, or RequestValidationError with Powertools' errors."""
    from aws_lambda_powertools.event_handler.openapi.compat import get_missing_field_error
    from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

    query = event.get("queryStringParameters") or {}
    headers = event.get("headers") or {}
    repeated: frozenset[str] | None = None
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for p in plan:
        value: Any
        if p.source == "path":
            value = route_args.get(p.alias)
        elif p.source == "query":
            value = query.get(p.alias)
            if value is not None and "," in value:
                if repeated is None:
                    repeated = _repeated(event.get("rawQueryString"))
                if p.alias in repeated:  # a native repeat reaches a scalar as a list (a 422)
                    value = value.split(",")
        else:
            value = _header(headers, p.alias)
        if value is None:
            if p.required:
                errors.append(get_missing_field_error(p.loc))
            else:
                values[p.name] = p.field.get_default() if p.fresh_default else p.default
            continue
        validated, problems = p.field.validate(value, loc=p.loc)
        if problems:
            errors.extend(problems)
        values[p.name] = validated
    if errors:
        raise RequestValidationError(errors)
    return values


class ReadValidation:
    """A route middleware (first in its stack) validating a bodiless request with a cached plan."""

    __name__ = "read_validation"

    def __init__(self) -> None:
        self._plan: list[_Param] | _Fallback | None = None
        self._lock = threading.Lock()
        self._powertools: Any = None

    def plan_of(self, route: Any) -> list[_Param] | _Fallback:
        """The route's plan (made on first use): its parameters, or a fallback to Powertools."""
        if self._plan is None:
            with self._lock:
                if self._plan is None:
                    self._plan = _plan(route)
        return self._plan

    def __call__(self, app: APIGatewayHttpResolver, next_middleware: Callable[..., Response]) -> Response:
        plan = self.plan_of(app.context["_route"])
        if isinstance(plan, _Fallback):
            if self._powertools is None:
                from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
                    OpenAPIRequestValidationMiddleware,
                )

                self._powertools = OpenAPIRequestValidationMiddleware()
            return self._powertools(app, next_middleware)
        event = app.current_event.raw_event
        app.context["_route_args"] = validate(plan, event, app.context.get("_route_args") or {})
        return next_middleware(app)
