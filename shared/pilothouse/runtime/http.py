"""HTTP functions: Powertools' HTTP API resolver around declared operations.

An :class:`Operation` is a typed endpoint function plus what the platform needs to know of it
(route, permission, whether it mutates). :func:`http_function` turns one or more operations into a
Lambda ``handler(event, context)`` for API Gateway HTTP API (payload 2.0) events:

    authenticate → authorize → validate (pydantic, by Powertools) → endpoint → problem+json on error
    → audit record for every mutating call → Idempotency-Key replay for mutating calls.

Endpoints read the request's principal and services with :func:`pilothouse.runtime.context.current`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import ProxyEventType, Router
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.data_classes.common import CaseInsensitiveDict

from pilothouse.errors import (
    Conflict,
    Forbidden,
    PilothouseError,
    ValidationFailed,
)
from pilothouse.runtime import emf
from pilothouse.runtime.context import RequestContext, activate, current_or_none, deactivate
from pilothouse.runtime.logs import logger, request_id_of, with_context
from pilothouse.runtime.operations import Operation, documented_responses
from pilothouse.runtime.problems import (
    body_problem,
    failure_reason,
    problem_response,
    validation_problem,
)

if TYPE_CHECKING:
    from pilothouse.domain.security import Principal
    from pilothouse.wiring import Services

_stdlog = logging.getLogger(__name__)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer; the body stays a value so Powertools validates and serializes it."""
    return Response(status_code=status, content_type="application/json", body=body, headers=headers or {})


def _body_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, bytes):
        return body.decode()
    return body if isinstance(body, str) else json.dumps(body, separators=(",", ":"), default=str)


#: headers of a first answer that a replay repeats (everything but what belongs to one exchange)
_NOT_REPLAYED = frozenset({"content-type", "content-length", "x-request-id", "date", "connection"})


def _stored_answer(response: Response, secret_fields: tuple[str, ...]) -> dict[str, Any]:
    """What an Idempotency-Key record keeps of an answer: status, headers and body, less secrets.

    A replay of an answer that carried a secret (a new API key) says the secret was shown once.
    """
    body = _body_text(response.body)
    if secret_fields and response.status_code < 300:
        data = json.loads(body)
        if isinstance(data, dict) and any(f in data for f in secret_fields):
            data = {k: v for k, v in data.items() if k not in secret_fields}
            data["secret_shown_once"] = True
            data["note"] = (
                "the secret was shown once, in the first answer; it is not kept and cannot be shown again"
            )
            body = json.dumps(data)
    headers = {
        k: v for k, v in response.headers.items() if k.lower() not in _NOT_REPLAYED and isinstance(v, str)
    }
    return {
        "status": response.status_code,
        "content_type": response.headers.get("Content-Type") or "application/json",
        "body": body,
        "headers": headers,
    }


def _request_id(event: dict) -> str:
    """The gateway's request id, or a new one (uuid is loaded only then: gateways send one)."""
    rid = (event.get("requestContext") or {}).get("requestId")
    if rid:
        return rid
    import uuid

    return uuid.uuid4().hex


def _header(event: dict, name: str) -> str | None:
    headers = event.get("headers") or {}
    return headers.get(name) or headers.get(name.lower())


def _presented_key(event: dict) -> str | None:
    auth = _header(event, "authorization")
    if auth and auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return _header(event, "x-api-key")


def _authorizer_claims(event: dict) -> dict[str, Any] | None:
    """The claims API Gateway's JWT authorizer verified, from the request context (None: none).

    HTTP APIs pass every claim as text and a list as ``"[a b c]"``: lists are split back.
    """
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") if isinstance(authorizer, dict) else None
    if not isinstance(claims, dict) or not claims:
        return None
    out: dict[str, Any] = {}
    for name, value in claims.items():
        if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
            out[name] = value[1:-1].split()
        else:
            out[name] = value
    return out


class RequestHooks(Protocol):
    """What the HTTP runtime asks of the layers below it, injected so that it imports no service.

    The wiring's :class:`pilothouse.wiring.ServiceHooks` is the real one; a test may pass its own.
    """

    def services(self) -> Services:
        """The services of this process."""
        ...

    def authenticate(self, services: Services, key: str | None) -> Principal:
        """The principal a presented key or bearer token stands for (Unauthorized if none does)."""
        ...

    def authenticate_claims(self, services: Services, claims: dict[str, Any]) -> Principal:
        """The principal of claims API Gateway's JWT authorizer verified (only when the settings
        say that authorizer guards the routes)."""
        ...

    def limit(
        self, services: Services, principal: Principal, *, operation: str, method: str
    ) -> dict[str, str]:
        """Take a token from the principal's bucket for this operation's class; the RateLimit
        headers, or TooManyRequests (429)."""
        ...

    def audit(
        self,
        services: Services,
        *,
        principal: str,
        operation: str,
        resource: str | None,
        request_id: str,
        status: int,
        detail: str | None = None,
        actor: dict[str, Any] | None = None,
        request: dict[str, Any] | None = None,
        policies: list[dict[str, Any]] | None = None,
    ) -> Any:
        """Record a mutating (or refused) call, the HTTP status its caller got and, when it failed,
        why; ``actor``: who an OIDC principal is; ``request``: the facts policies judged it on;
        ``policies``: each matching policy's decision."""
        ...


def _default_hooks() -> RequestHooks:
    from pilothouse.wiring import request_hooks

    return request_hooks()


class _Guard:
    """The per-route middleware: context, auth, limits, idempotency, error mapping, audit."""

    def __init__(
        self, op: Operation, hooks: RequestHooks, answers: _ResponseValidation | None = None
    ) -> None:
        self.op = op
        self.hooks = hooks
        #: the answer's validation when the settings ask for it, run inside the guard (for a route
        #: the resolver does not validate; None: the resolver's own middleware does, or none)
        self.answers = answers
        self.__name__ = f"guard_{op.name}"

    def _begin(self, app: APIGatewayHttpResolver) -> RequestContext:
        return self.begin(app.current_event.raw_event)

    def begin(self, event: dict, services: Services | None = None) -> RequestContext:
        """The request's context (``services``: the hooks' when not given)."""
        request_id = _request_id(event)
        services = services or self.hooks.services()
        params = event.get("pathParameters") or {}
        return RequestContext(
            request_id=request_id,
            operation=self.op.name,
            services=services,
            resource=self.op.resource(params),
            notes={"event": event},  # the raw event, for an endpoint that reads its bytes (webhooks)
        )

    def _authorize(self, ctx: RequestContext, event: dict) -> None:
        if self.op.permission is None:
            return
        claims = _authorizer_claims(event) if ctx.services.settings.oidc_gateway_authorizer else None
        if claims is not None:
            ctx.principal = self.hooks.authenticate_claims(ctx.services, claims)
        else:
            ctx.principal = self.hooks.authenticate(ctx.services, _presented_key(event))
        limit = getattr(self.hooks, "limit", None)
        if limit is not None:  # a token from the caller's bucket (429 when it is empty)
            ctx.notes["rate_headers"] = limit(
                ctx.services, ctx.principal, operation=self.op.name, method=self.op.method
            )
        if not ctx.principal.can(self.op.permission):
            raise Forbidden(
                f"{self.op.name} needs permission {self.op.permission.value}; "
                f"role {ctx.principal.role.label} does not hold it",
                extra={"required_permission": self.op.permission.value},
            )

    def __call__(self, app: APIGatewayHttpResolver, next_middleware: Callable[..., Response]) -> Response:
        event = app.current_event.raw_event
        return self.run(app, self.begin(event), event, app.context.get("_body_problem"), next_middleware)

    def run(
        self,
        app: APIGatewayHttpResolver,
        ctx: RequestContext,
        event: dict,
        body_problem: PilothouseError | None,
        next_middleware: Callable[..., Response],
    ) -> Response:
        """The guarded call of one request (``body_problem``: the body refused before parsing):
        what the route middleware does, also the direct read path's (``runtime.http_direct``)."""
        token = activate(ctx)
        response: Response
        try:
            if self.op.permission is None:  # no key or policy to look up: no stamp taken
                response = self._handle(app, ctx, event, body_problem, next_middleware)
            else:  # the key's and the policies' caches see the store as of one moment
                with ctx.services.store.pinned_stamps():
                    response = self._handle(app, ctx, event, body_problem, next_middleware)
        finally:
            deactivate(token)
        if self.op.mutating or response.status_code in (401, 403):  # refused reads are audited too
            self._audit(ctx, response.status_code, failure_reason(response))
        response.headers.update(ctx.notes.get("rate_headers") or {})
        response.headers["X-Request-Id"] = ctx.request_id
        return response

    def _handle(self, app, ctx: RequestContext, event: dict, body_problem, next_middleware) -> Response:
        try:
            self._authorize(ctx, event)
            if body_problem is not None:
                raise body_problem
            self._admit(app, ctx, event)
            key = _header(event, "idempotency-key") if self.op.mutating else None
            if key:
                return self._idempotent(app, ctx, event, key, next_middleware)
            return self._call(app, ctx, next_middleware)
        except PilothouseError as exc:
            return problem_response(exc, request_id=ctx.request_id, instance=event.get("rawPath"))
        except Exception:
            logger.exception(
                "unhandled error", extra={"operation": self.op.name, "request_id": ctx.request_id}
            )
            err = PilothouseError(f"an internal error occurred; quote request id {ctx.request_id}")
            return problem_response(err, request_id=ctx.request_id, instance=event.get("rawPath"))

    def _admit(self, app: APIGatewayHttpResolver, ctx: RequestContext, event: dict) -> None:
        """A mutating request passes admission (environment roles, deployment policies)."""
        admit = getattr(self.hooks, "admit", None)
        if not self.op.mutating or self.op.permission is None or ctx.principal is None or admit is None:
            return
        try:
            body = app.current_event.json_body if event.get("body") else None
        except ValueError:
            body = None  # the endpoint's validation names what is wrong with it
        try:
            judged = admit(
                ctx.services,
                ctx.principal,
                operation=self.op.name,
                permission=self.op.permission,
                params=event.get("pathParameters") or {},
                body=body,
                break_glass=_header(event, "break-glass"),
            )
        except PilothouseError as exc:  # the refusal names the policy; the record keeps the decisions
            ctx.notes["audit"] = (
                {"policies": exc.extra.get("decisions")} if exc.extra.get("decisions") else {}
            )
            raise
        ctx.notes["audit"] = {k: v for k, v in (judged or {}).items() if v}

    def _call(self, app, ctx: RequestContext, next_middleware) -> Response:
        carry = getattr(self.hooks, "audit_in_commit", None) if self.op.audit_in_commit else None
        if carry is None:
            return self._answer(app, ctx, next_middleware)
        # the record of a success rides in the change's transaction; _audit writes any other
        fields = self._audit_fields(ctx)
        fields["target"] = lambda: ctx.resource  # the endpoint names it as it runs
        with carry(ctx.services, status=self.op.status, **fields) as carried:
            response = self._answer(app, ctx, next_middleware)
        if carried.record is not None:
            ctx.notes["audited"] = self.op.status
        return response

    def _answer(self, app, ctx: RequestContext, next_middleware) -> Response:
        """The endpoint's answer, validated when the settings say."""
        if self.answers is not None and ctx.services.settings.response_validation:
            return self.answers(app, next_middleware)
        return next_middleware(app)

    def _idempotent(self, app, ctx: RequestContext, event: dict, key: str, next_middleware) -> Response:
        # Imported here: Powertools' idempotency package pulls in boto3 (~150 ms of cold start).
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        from pilothouse.runtime.idempotency import payload_hash, run_once

        if len(key) > 255:
            raise ValidationFailed.field("Idempotency-Key", "at most 255 characters")

        first: dict[str, Any] = {}

        def action() -> dict[str, Any]:
            try:
                response = self._call(app, ctx, next_middleware)
            except PilothouseError as exc:
                if exc.status >= 500:
                    raise
                response = problem_response(exc, request_id=ctx.request_id, instance=event.get("rawPath"))
            first["answer"] = _stored_answer(response, ())
            return _stored_answer(response, self.op.secret_fields)  # what the record keeps

        try:
            answer, replayed = run_once(
                ctx.services.store,
                key=f"{ctx.actor}|{self.op.name}|{key}",
                payload=payload_hash(event.get("rawPath"), event.get("rawQueryString"), event.get("body")),
                ttl_seconds=ctx.services.settings.idempotency_ttl_seconds,
                action=action,
                lambda_context=app.lambda_context,
            )
        except IdempotencyAlreadyInProgressError:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress; retry shortly"
            ) from None
        except IdempotencyValidationError:
            raise ValidationFailed.field(
                "Idempotency-Key", "this key was used for a different request; use a new key"
            ) from None
        if not replayed:
            answer = first["answer"]
        headers = {**answer.get("headers", {}), **({"Idempotent-Replayed": "true"} if replayed else {})}
        return Response(
            status_code=answer["status"],
            content_type=answer["content_type"],
            body=answer["body"],
            headers=headers,
        )

    def _audit_fields(self, ctx: RequestContext) -> dict[str, Any]:
        fields: dict[str, Any] = {"principal": ctx.actor, "operation": self.op.name}
        fields["request_id"] = ctx.request_id
        # who an OIDC principal is (issuer, subject, e-mail, name) goes with the record
        if ctx.principal and ctx.principal.kind == "oidc":
            fields["actor"] = ctx.principal.audit_view()
        fields.update(ctx.notes.get("audit") or {})  # the request's facts and its policy decisions
        return fields

    def _audit(self, ctx: RequestContext, status: int, detail: str | None = None) -> None:
        if ctx.notes.get("audited") == status:  # written with the change (see _call)
            return
        try:
            self.hooks.audit(
                ctx.services, resource=ctx.resource, status=status, detail=detail, **self._audit_fields(ctx)
            )
        except Exception:  # the answer stands; a lost audit record is logged loudly
            logger.exception("could not write the audit record", extra={"request_id": ctx.request_id})


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
    hooks = hooks or _default_hooks()
    for op in operations:
        middlewares: list[Callable[..., Any]]
        validation = None  # the resolver's
        if document:
            middlewares = [_Guard(op, hooks)]  # the resolver validates requests and answers
        else:
            # answers validated when the settings say, by the guard (not a middleware frame of its own)
            validation = False
            middlewares = [_Guard(op, hooks, _ResponseValidation(None))]
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
    On such a route the guard runs it (``_Guard.answers``) around the endpoint, where a middleware
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
    hooks = hooks or _default_hooks()
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
        rid = _request_id(event)
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
        guard = _Guard(op, hooks) if op else None
        if op is None or guard is None:
            rid = _request_id(event)
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
