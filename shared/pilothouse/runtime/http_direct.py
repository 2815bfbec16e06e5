"""The direct read path of an HTTP function: a bodiless read served without Powertools' resolver
(and, on the local gateway, without building its payload-2.0 event), with the same answer.

On a warm read such as ``GET /v1/components/{name}/config``, most of a function's CPU went to the
machinery around the endpoint: the event (a dict of ~20 keys), Powertools' proxy-event wrappers,
its route match, its middleware frames (rebuilt on every request) and its adapter. For a read
route whose checks are all known when the function is built, :class:`DirectReads` does the same
steps itself, in the same order and with the same parts:

    match (Powertools' own route rules, in its order) → validate (the route's
    :class:`~pilothouse.runtime.params.ReadValidation` plan) → the route's guard (context, auth,
    rate limit, audit of a refusal, problem+json) → the endpoint → Powertools' ``ResponseBuilder``

and answers what Powertools would have answered. Whatever it does not cover is handed back
(``None``: the caller builds the event and calls the handler): a body, a mutating route, a route
with a parameter the plan does not cover, answers being validated
(``PILOTHOUSE_RESPONSE_VALIDATION``), and any request that fails validation (nothing has happened
yet then: the full path answers the 401/403/422 as always).

Two ways in: :meth:`DirectReads.serve` takes the local gateway's request as it was received (no
event is built), :meth:`DirectReads.serve_event` a gateway's event as a function receives it in the
cloud (API Gateway's, with a named stage's prefix taken off its path as Powertools does).
``tests/unit/test_http_direct.py`` compares the three answers (resolver, event, request) request by
request.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.api_gateway import ResponseBuilder
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.shared.headers_serializer import HttpApiHeadersSerializer

from pilothouse.runtime import emf
from pilothouse.runtime.logs import with_context

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from pilothouse.runtime.events import HttpRequest
    from pilothouse.runtime.guard import Guard
    from pilothouse.runtime.operations import Operation
    from pilothouse.runtime.params import ReadValidation

__all__ = ["DirectReads", "direct_handler"]


@dataclass(frozen=True)
class _Read:
    """A read route served directly: its Powertools route, operation, guard and validation."""

    route: Any  # Powertools' Route: its compiled rule, status code, cors/compress/cache settings
    op: Operation
    guard: Guard
    validation: ReadValidation | None  # None: the route's parameters are all text path captures
    params: frozenset[str]  # the endpoint's parameters


def _parts(route: Any, op: Operation) -> _Read | None:
    """The route as a direct read, or None when the direct path does not cover it."""
    from pilothouse.runtime.guard import Guard

    # a route checked by a ReadValidation plan has one only if its module is loaded: a function
    # whose reads take only path captures (a cold start's get) need not load it
    loaded = sys.modules.get("pilothouse.runtime.params")
    read_validation = loaded.ReadValidation if loaded is not None else None
    if op.mutating or getattr(route, "has_dependencies", False) or route.enable_validation is not False:
        return None  # a route Powertools validates itself is resolved by it
    found = list(route.middlewares or ())
    kinds = [type(m) for m in found]
    if read_validation is not None and kinds == [read_validation, Guard]:
        validation, guard = found[0], found[1]
    elif kinds == [Guard]:
        validation, guard = None, found[0]
    else:
        return None
    if guard.answers is None:
        return None  # answers validated outside the guard: the full path
    import inspect

    params = frozenset(inspect.signature(op.func, eval_str=False).parameters)
    return _Read(route, op, guard, validation, params)


class _Headers:
    """A request's headers as Powertools' HTTP API event resolves them (``resolved_headers_field``:
    a value holding a comma as the list of its parts), looked up one name at a time."""

    __slots__ = ("_headers",)

    def __init__(self, headers: dict[str, str]) -> None:
        self._headers = headers  # lower-case names, as the event's

    def get(self, name: str, default: Any = None) -> Any:
        value = self._headers.get(name.lower())
        if value is None:
            return default
        return value.split(",") if "," in value else value


class _EventView:
    """What Powertools' ``ResponseBuilder`` reads of the event: its resolved headers (compression,
    CORS) and how an HTTP API answer's headers are written. Building the whole proxy event's
    wrappers for that cost more than the endpoint."""

    __slots__ = ("resolved_headers_field",)

    def __init__(self, headers: dict[str, str]) -> None:
        self.resolved_headers_field = _Headers(headers)

    @staticmethod
    def header_serializer() -> HttpApiHeadersSerializer:
        return HttpApiHeadersSerializer()


def event_route(event: dict[str, Any]) -> tuple[str, str] | None:
    """The method and the path a payload-2.0 ``event`` asks for, as Powertools matches them (a
    named stage's prefix taken off the path); None for a malformed event (the resolver answers it)."""
    try:
        context = event["requestContext"]
        method, stage, path = context["http"]["method"].upper(), context["stage"], event["rawPath"]
    except (KeyError, TypeError, AttributeError):
        return None
    if stage != "$default":  # a named stage's path starts with it (Powertools strips it)
        path = path[len(stage) + 1 :]
    return method, path


class DirectReads:
    """Serves the direct read path of one function's resolver (see the module's docstring)."""

    def __init__(self, app: APIGatewayHttpResolver, operations: list[Operation]) -> None:
        self.app = app
        by_func = {op.func: op for op in operations}
        global_middlewares = bool(app._router_middlewares)
        #: every route in Powertools' matching order, with its direct parts (None: not served here)
        self.routes: list[tuple[Any, _Read | None]] = []
        for route in [*app._static_routes, *app._dynamic_routes]:
            op = by_func.get(route.func)
            parts = _parts(route, op) if op is not None and not global_middlewares else None
            self.routes.append((route, parts))

    def _match(self, method: str, path: str) -> tuple[_Read, dict[str, str]] | None:
        for route, read in self.routes:  # as Powertools' _resolve: the first route that matches
            if route.method != method:
                continue
            found = route.rule.match(path)
            if found:
                return (read, found.groupdict()) if read is not None else None
        return None

    def serve(self, request: HttpRequest) -> dict[str, Any] | None:
        """The handler's answer to ``request`` (a proxy result), or None: not served here."""
        if request.body:
            return None
        method = request.method.upper()
        matched = self._match(method, request.path)
        if matched is None:
            return None
        from pilothouse.runtime.events import event_headers, query_parameters  # the local gateway's

        headers, cookies = event_headers(request.headers)
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": request.route_key,
            "rawPath": request.path,
            "rawQueryString": request.query,
            "headers": headers,
            "requestContext": {
                "requestId": request.request_id,
                "http": {"method": method, "path": request.path},
            },
            "isBase64Encoded": False,
        }
        query = query_parameters(request.query)
        if query:
            event["queryStringParameters"] = query
        if request.path_parameters:
            event["pathParameters"] = request.path_parameters
        if cookies:
            event["cookies"] = cookies
        return self._answer(matched, event, headers)

    def serve_event(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """The handler's answer to an API Gateway payload-2.0 ``event`` of a bodiless read (the
        cloud's: its headers lower-case, its query parsed as the gateway parses it), or None: the
        resolver answers it."""
        if event.get("body"):
            return None
        route = event_route(event)
        matched = self._match(*route) if route is not None else None  # None: malformed, the resolver's
        if matched is None:
            return None
        return self._answer(matched, event, event.get("headers") or {})

    def _answer(
        self, matched: tuple[_Read, dict[str, str]], event: dict[str, Any], headers: dict[str, str]
    ) -> dict[str, Any] | None:
        read, route_args = matched
        services = read.guard.hooks.services()
        if services.settings.response_validation:
            return None  # Powertools validates the answer: the full path
        values = self._validate(read, event, route_args)
        if values is None:
            return None
        ctx = read.guard.begin(event, services)
        response = read.guard.run(self.app, ctx, event, None, self._endpoint(read, values))
        builder: ResponseBuilder[Any] = ResponseBuilder(response, self.app._serializer, read.route)
        return builder.build(_EventView(headers), self.app._cors)

    @staticmethod
    def _validate(read: _Read, event: dict[str, Any], route_args: dict[str, str]) -> dict[str, Any] | None:
        """The endpoint's arguments, or None when the request is not valid (the full path answers)."""
        if read.validation is None:
            values: dict[str, Any] = route_args
        else:
            plan = read.validation.plan_of(read.route)
            if not isinstance(plan, list):
                return None  # Powertools validates this route itself
            try:
                from pilothouse.runtime.params import validate

                values = validate(plan, event, route_args)
            except RequestValidationError:
                return None
        return values if set(values) == read.params else None

    @staticmethod
    def _endpoint(read: _Read, values: dict[str, Any]) -> Callable[[Any], Response]:
        """The innermost call, as Powertools' adapter makes it: the endpoint with its arguments,
        its result as a Response (a bare value: JSON with the route's status code)."""

        def call(_app: Any) -> Response:
            result = read.op.func(**values)
            if isinstance(result, Response):
                return result
            if isinstance(result, tuple) and len(result) == 2:
                body, status = result
            else:
                body, status = result, read.route.status_code or HTTPStatus.OK
            return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)

        return call


def direct_handler(
    app: APIGatewayHttpResolver, operations: list[Operation], name: str | None
) -> Callable[[HttpRequest, Any], dict | None]:
    """A function handler's direct read path for the local gateway, with the same log context and
    metrics as the handler for the requests it serves (None: send the event). ``name``: the
    metrics' function name (None: the route key). :class:`DirectReads` is made on the first
    request."""
    reads: list[DirectReads] = []

    def serve(request: HttpRequest, context: Any) -> dict | None:
        started = time.perf_counter()
        if not reads:
            reads.append(DirectReads(app, operations))
        result = reads[0].serve(request)
        if result is not None:
            metric = name or request.route_key
            emf.record(metric, int(result.get("statusCode") or 500), time.perf_counter() - started)
        return result

    return with_context(serve, correlation_id=lambda request: request.request_id)
