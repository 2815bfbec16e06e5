"""Request validation for routes with a JSON body: Powertools' checks, its work done only on a miss.

Powertools' request validation (``OpenAPIRequestValidationMiddleware``) walks every parameter
source of a route on every request (path, query, headers, cookies, each normalised again) before it
parses and validates the body; on a warm ``POST /v1/components`` that was a tenth of the call.
:class:`BodyValidation` takes its place on routes whose only parameters are text path captures and
one JSON body model (register, update, deploy, scale ...). Each request's body is parsed as
Powertools parses it (the event's ``json_body``, the resolver's deserializer) and validated by the
route's own Powertools field (the same compiled pydantic validator, in the same mode, with the same
input), and the path captures by their fields, as :mod:`pilothouse.runtime.params` does for reads.

Only a request that passes every check takes that path. Anything else (no body, a body that is not
a JSON object, a media type that is not JSON, a body refused before parsing, any validation error)
goes to Powertools' middleware itself, which answers it exactly as before (the same
``RequestValidationError``, errors and locations included, 401/403 before 422). A route whose
parameters the plan does not cover (a query, header or cookie parameter, several body parameters,
an embedded body) is validated by Powertools every time. ``tests/unit/test_body_validation.py``
compares the arguments and answers of both on the same requests.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

#: what Powertools parses as JSON: no content type, or one starting with this
_JSON = "application/json"


@dataclass(frozen=True)
class _Plan:
    path: tuple[Any, ...]  # the path captures' Powertools fields
    body: Any  # the body's Powertools field (not embedded: the body is the model's value)


class _Fallback:
    """The route has parameters the plan does not cover: Powertools validates every request."""


def _plan(route: Any) -> _Plan | _Fallback:
    from aws_lambda_powertools.event_handler.openapi.compat import is_scalar_field

    dependant = route.dependant
    if (
        len(dependant.body_params) != 1
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
        or getattr(route, "has_dependencies", False)
    ):
        return _Fallback()
    body = dependant.body_params[0]
    if getattr(body.field_info, "embed", None):
        return _Fallback()
    for field in dependant.path_params:
        if not is_scalar_field(field) or field.field_info.annotation is not str:
            return _Fallback()
    return _Plan(tuple(dependant.path_params), body)


def _header(headers: dict[str, str] | None, name: str) -> str:
    """The value of header ``name`` (lower case) as Powertools' ``event.headers`` gives it (names
    compared in lower case, the last of two differing in case only), without copying them all."""
    value = ""
    for key, found in (headers or {}).items():
        if key.lower() == name:
            value = found
    return value


def _arguments(plan: _Plan, app: APIGatewayHttpResolver) -> dict[str, Any] | None:
    """The endpoint's arguments when the request passes every check, else None (Powertools then
    validates it and names what is wrong)."""
    if app.context.get("_body_problem") is not None:
        return None
    event = app.current_event
    content_type = _header(event.get("headers"), "content-type").strip()
    if content_type and not content_type.startswith(_JSON):
        return None
    try:
        body = event.json_body  # cached on the event: admission reads the same value
    except ValueError:
        return None
    if not isinstance(body, dict):  # absent, null, a list (Powertools takes its first item) ...
        return None
    captures = app.context.get("_route_args") or {}
    values: dict[str, Any] = {}
    for field in plan.path:
        value = captures.get(field.alias)
        if value is None:
            return None
        validated, problems = field.validate(value, loc=("path", field.alias))
        if problems:
            return None
        values[field.name] = validated
    validated, problems = plan.body.validate(body, loc=("body",))
    if problems or validated is None:
        return None
    values[plan.body.name] = validated
    return values


class BodyValidation:
    """A route middleware (first in its stack) validating a request with a JSON body; any request it
    does not pass goes to Powertools' request validation."""

    __name__ = "body_validation"

    def __init__(self) -> None:
        self._plan: _Plan | _Fallback | None = None
        self._lock = threading.Lock()
        self._powertools: Any = None

    def plan_of(self, route: Any) -> _Plan | _Fallback:
        """The route's plan (made on first use), or the fallback to Powertools."""
        if self._plan is None:
            with self._lock:
                if self._plan is None:
                    self._plan = _plan(route)
        return self._plan

    def powertools(self) -> Callable[..., Response]:
        """Powertools' request validation middleware (made on first use)."""
        if self._powertools is None:
            from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
                OpenAPIRequestValidationMiddleware,
            )

            self._powertools = OpenAPIRequestValidationMiddleware()
        return self._powertools

    def __call__(self, app: APIGatewayHttpResolver, next_middleware: Callable[..., Response]) -> Response:
        plan = self.plan_of(app.context["_route"])
        values = _arguments(plan, app) if isinstance(plan, _Plan) else None
        if values is None:
            return self.powertools()(app, next_middleware)
        app.context["_route_args"] = values
        return next_middleware(app)
