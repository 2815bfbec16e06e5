"""HTTP functions: Powertools' HTTP API resolver around declared operations.

An :class:`Operation` is a typed endpoint function plus what the platform needs to know of it
(route, permission, whether it mutates). :func:`http_function` turns one or more operations into a
Lambda ``handler(event, context)`` for API Gateway HTTP API (payload 2.0) events:

    authenticate → authorize → validate (pydantic, by Powertools) → endpoint → problem+json on error
    → audit record for every mutating call → Idempotency-Key replay for mutating calls.

Endpoints read the request's principal and services with :func:`pilothouse.runtime.context.current`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ProxyEventType, Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.data_classes.common import CaseInsensitiveDict

from pilothouse.errors import PilothouseError
from pilothouse.runtime import emf
from pilothouse.runtime.context import current_or_none
from pilothouse.runtime.guard import Guard, RequestHooks, default_hooks, event_request_id
from pilothouse.runtime.logs import request_id_of, with_context
from pilothouse.runtime.operations import Operation, documented_responses
from pilothouse.runtime.problems import (
    body_problem,
    failure_reason,
    problem_response,
    validation_problem,
)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; the body stays a value so Powertools validates and serializes it."""
    return Response(status_code=status, content_type="application/json", body=body, headers=headers or {})


class IsolatedHttpResolver(APIGatewayHttpResolver):
    """Powertools' HTTP API resolver with the current event kept on the instance.

    Powertools stores the event being resolved on the ``BaseRouter`` *class*, shared by every
    resolver in the process. In Lambda one process handles one event at a time, so that is safe;
    the embedded cloud runs many function instances as threads of one process, and there one
    request could be validated, authorized or de-duplicated with another's body and headers. An
    instance attribute shadows the class attribute, and each instance handles one event at a time
    (the function pool guarantees it), so every read through ``self``/``app`` sees its own event.
    """

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        problem = body_problem(event)
        if problem is not None:
            # Nothing parses the body: the route's guard answers with the problem (after 401/403).
            headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
            event = {**event, "body": None, "isBase64Encoded": False, "headers": headers}
        # an HTTP API resolver wraps every event as a payload-2.0 event
        self.current_event = self._wrapped = cast("APIGatewayProxyEventV2", self._proxy_event(event))
        self.lambda_context = context
        self.append_context(_body_problem=problem)
        try:
            return super().resolve(event, context)
        finally:
            self._wrapped = None

    _wrapped: Any = None

    def _to_proxy_event(self, event: dict) -> Any:
        # Powertools' resolve wraps the event once more: during resolve(), reuse the wrapper made above
        if self._wrapped is not None and self._wrapped.raw_event is event:
            return self._wrapped
        return self._proxy_event(event)

    def _proxy_event(self, event: dict) -> Any:
        """Powertools' wrapper of ``event``: :class:`_ProxyEventV2` for the payload-2.0 events this
        resolver reads (the resolver's own class for any other it was told to read)."""
        if self._proxy_type is not ProxyEventType.APIGatewayProxyEventV2:
            return super()._to_proxy_event(event)
        return _ProxyEventV2(event, self._json_body_deserializer)


class _ProxyEventV2(APIGatewayProxyEventV2):
    """Powertools' payload-2.0 event, its resolved headers made in one pass.

    Powertools reads ``resolved_headers_field`` on every answer (whether the client accepts gzip)
    and builds it from ``headers``, itself a case-insensitive copy of the event's: two copies,
    each through generators, for one lookup. This makes the same mapping (names in lower case,
    a value holding a comma as the list of its parts, the later of two names differing in case
    only) in one dict comprehension. tests/unit/test_http_runtime_perf.py compares the two.
    """

    @cached_property
    def resolved_headers_field(self) -> dict[str, Any]:
        resolved = CaseInsensitiveDict()
        dict.update(
            resolved,
            {k.lower(): (v.split(",") if "," in v else v) for k, v in (self.get("headers") or {}).items()},
        )
        return resolved


def _needs_request_validation(op: Operation) -> bool:
    """Whether Powertools' request validation can refuse a call of ``op``: not when the endpoint
    takes only text path parameters (a route's captures are always non-empty text, and an
    endpoint that declares no body, query, header or cookie parameter never has one parsed).

    Such a route is served without Powertools' validation middlewares, with the same answers; the
    OpenAPI document (``document``) still describes every route with validation on.
    """
    import inspect

    captures = {part[1:-1] for part in op.path.split("/") if part.startswith("<") and part.endswith(">")}
    for param in inspect.signature(op.func, eval_str=False).parameters.values():
        plain = param.kind is param.POSITIONAL_OR_KEYWORD and param.default is param.empty
        if not (plain and param.name in captures and param.annotation in ("str", str)):
            return True
    return False


def add_operations(
    router: Router | APIGatewayHttpResolver,
    operations: list[Operation],
    hooks: RequestHooks | None = None,
    *,
    document: bool = False,
) -> None:
    """Route ``operations``; ``document`` adds their answer models (for the OpenAPI document)."""
    hooks = hooks or default_hooks()
    for op in operations:
        middlewares: list[Callable[..., Any]]
        validation = None  # the resolver's
        if document:
            middlewares = [Guard(op, hooks)]  # the resolver validates requests and answers
        else:
            # answers validated when the settings say, by the guard (not a middleware frame of its own)
            validation = False
            middlewares = [Guard(op, hooks, _ResponseValidation(None))]
            checked = _needs_request_validation(op)
            if checked and op.mutating:  # Powertools' checks of a body, planned once (runtime.body_params)
                from pilothouse.runtime.body_params import BodyValidation

                middlewares.insert(0, BodyValidation())
            elif checked:  # a read: Powertools' checks with a plan made once
                from pilothouse.runtime.params import ReadValidation

                middlewares.insert(0, ReadValidation())
        router.route(
            op.path,
            op.method,
            summary=op.summary,
            tags=[op.tag],
            operation_id=op.name,
            status_code=op.status,
            security=[{"ApiKey": []}, {"Bearer": []}] if op.permission else None,
            middlewares=middlewares,
            responses=documented_responses(op) if document else None,
            enable_validation=validation,
        )(op.func)


class _ResponseValidation:
    """Powertools' response validation, run only when the settings ask for it
    (``PILOTHOUSE_RESPONSE_VALIDATION``).

    Off, the answer goes out as the endpoint built it: Powertools serializes a JSON body with the
    resolver's serializer, as it does after validating it, so the bytes are the same for the plain
    JSON values our endpoints answer; what is skipped is the check of the value against the return
    annotation and ``jsonable_encoder``'s walk over it. ``validate`` None: Powertools' middleware
    is made on first use (a route served without Powertools' validation loads it only then).
    On such a route the guard runs it (``Guard.answers``) around the endpoint, where a middleware
    of its own would have been: one Powertools middleware frame less on every request.
    """

    __name__ = "response_validation"

    def __init__(self, validate: Any) -> None:
        self.validate = validate  # Powertools' OpenAPIResponseValidationMiddleware, or None

    def __call__(self, app: APIGatewayHttpResolver, next_middleware: Callable[..., Response]) -> Response:
        ctx = current_or_none()  # None: no route matched (the resolver's not-found has no model)
        if ctx is None or not ctx.services.settings.response_validation:
            return next_middleware(app)
        if self.validate is None:
            from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
                OpenAPIResponseValidationMiddleware,
            )

            self.validate = OpenAPIResponseValidationMiddleware()  # as the resolver makes its own
        return self.validate(app, next_middleware)


def _optional_response_validation(app: APIGatewayHttpResolver) -> None:
    """Put :class:`_ResponseValidation` in the place of the resolver's response validation.

    Powertools (3.x) builds each route's middleware stack from the resolver's
    ``_response_validation_middleware``; a version without it fails here, at cold start, and in
    the unit test that checks the switch, rather than silently validating every answer.
    """
    inner = app.__dict__["_response_validation_middleware"]
    app._response_validation_middleware = _ResponseValidation(inner)  # type: ignore[assignment]


def build_resolver(
    operations: list[Operation], hooks: RequestHooks | None = None, *, document: bool = False
) -> APIGatewayHttpResolver:
    """A resolver serving ``operations``, with problem+json for what no route guard sees
    (``document``: with the answer models, for the OpenAPI document)."""
    hooks = hooks or default_hooks()
    # Powertools' validation is loaded (a good part of a cold start) only where a route needs it
    validating = document or any(_needs_request_validation(op) for op in operations)
    app = IsolatedHttpResolver(enable_validation=validating)
    if validating:
        _optional_response_validation(app)
    add_operations(app, operations, hooks, document=document)

    @app.not_found
    def _not_found(exc: Exception) -> Response:
        from pilothouse.errors import NotFound

        event = app.current_event.raw_event
        rid = event_request_id(event)
        response = problem_response(
            NotFound(f"no route for {event.get('rawPath')}"), request_id=rid, instance=event.get("rawPath")
        )
        response.headers["X-Request-Id"] = rid
        return response

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response:
        # Powertools validates before route middlewares run; answer 401/403 first where due.
        event = app.current_event.raw_event
        route = app.context.get("_route")
        op = next(
            (o for o in operations if route is not None and o.func is getattr(route, "func", None)), None
        )
        guard = Guard(op, hooks) if op else None
        if op is None or guard is None:
            rid = event_request_id(event)
            response = problem_response(
                validation_problem(exc), request_id=rid, instance=event.get("rawPath")
            )
            response.headers["X-Request-Id"] = rid
            return response
        ctx = guard._begin(app)
        try:
            guard._authorize(ctx, event)
            problem = app.context.get("_body_problem") or validation_problem(exc)
            response = problem_response(problem, request_id=ctx.request_id, instance=event.get("rawPath"))
        except PilothouseError as err:
            response = problem_response(err, request_id=ctx.request_id, instance=event.get("rawPath"))
        if op.mutating or response.status_code in (401, 403):
            guard._audit(ctx, response.status_code, failure_reason(response))
        response.headers.update(ctx.notes.get("rate_headers") or {})
        response.headers["X-Request-Id"] = ctx.request_id
        return response

    return app


def http_function(*operations: Operation, hooks: RequestHooks | None = None) -> Callable[[dict, Any], dict]:
    """A Lambda handler for API Gateway HTTP API events serving ``operations`` (``hooks``: the
    services, authentication and audit it uses; the wiring's by default)."""
    app = build_resolver(list(operations), hooks)

    name = operations[0].name if len(operations) == 1 else None  # None: the route key names it

    reads = _event_reads(app, list(operations))
    mutations = _event_mutations(app, list(operations))

    def resolve(event: dict, context: Any) -> dict:
        started = time.perf_counter()
        result = reads(event) if event.get("body") is None else mutations(event, context)
        if result is None:
            result = app.resolve(event, context)
        metric = name or str(event.get("routeKey") or "api")
        emf.record(metric, int(result.get("statusCode") or 500), time.perf_counter() - started)
        return result

    handler = with_context(resolve, correlation_id=request_id_of)
    handler.resolver = app  # type: ignore[attr-defined]
    handler.direct = _direct_path(app, list(operations), name)  # type: ignore[attr-defined]
    return handler


def _event_reads(app: APIGatewayHttpResolver, operations: list[Operation]) -> Callable[[dict], dict | None]:
    """The direct read path (``runtime.http_direct``) for a bodiless read's event, as a gateway
    hands it over (None: the resolver answers it). Made on the first such event, so that a function
    serving only mutations never loads it; read routes are known when the function is built, so a
    function without any answers None at once."""
    if not any(not op.mutating for op in operations):
        return lambda event: None
    made: list[Callable[[dict], dict | None]] = []

    def reads(event: dict) -> dict | None:
        if not made:
            from pilothouse.runtime.http_direct import DirectReads

            made.append(DirectReads(app, operations).serve_event)
        return made[0](event)

    return reads


def _event_mutations(
    app: APIGatewayHttpResolver, operations: list[Operation]
) -> Callable[[dict, Any], dict | None]:
    """The direct mutation path (``runtime.direct_mutations``) for an event with a body (None: the
    resolver answers it). Made on the first such event, so that a function serving only reads
    never loads it; a function without a mutation answers None at once."""
    if not any(op.mutating for op in operations):
        return lambda event, context: None
    made: list[Any] = []  # the DirectMutations, once made

    def mutations(event: dict, context: Any) -> dict | None:
        if not made:
            from pilothouse.runtime.direct_mutations import DirectMutations

            made.append(DirectMutations(app, operations))
        return made[0].serve_event(event, context)

    return mutations


def _direct_path(
    app: APIGatewayHttpResolver, operations: list[Operation], name: str | None
) -> Callable[[Any, Any], dict | None]:
    """The handler's direct read path for the local gateway's requests (``runtime.http_direct``),
    loaded on its first request. One function instance serves one request at a time (the function
    pool's rule), so one is made."""
    made: list[Callable[[Any, Any], dict | None]] = []

    def direct(request: Any, context: Any) -> dict | None:
        if not made:
            from pilothouse.runtime.http_direct import direct_handler

            made.append(direct_handler(app, operations, name))
        return made[0](request, context)

    return direct
