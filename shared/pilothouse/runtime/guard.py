"""The per-route guard of an HTTP operation: who calls (API key, bearer token or the gateway's
JWT claims), whether their role, rate limit and the deployment policies let them, the endpoint's
call with its Idempotency-Key replay and its audit record, and errors as problem+json.

:func:`pilothouse.runtime.http.build_resolver` puts one :class:`Guard` in front of every route;
the direct paths (``runtime.http_direct``, ``runtime.direct_mutations``) run the same guard.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from pilothouse.errors import Conflict, Forbidden, PilothouseError, ValidationFailed
from pilothouse.runtime.context import RequestContext, activate, deactivate
from pilothouse.runtime.logs import logger
from pilothouse.runtime.operations import Operation
from pilothouse.runtime.problems import failure_reason, problem_response

if TYPE_CHECKING:
    from pilothouse.domain.security import Principal
    from pilothouse.wiring import Services


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


def event_request_id(event: dict) -> str:
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


def default_hooks() -> RequestHooks:
    from pilothouse.wiring import request_hooks

    return request_hooks()


class Guard:
    """The per-route middleware: context, auth, limits, idempotency, error mapping, audit."""

    def __init__(
        self, op: Operation, hooks: RequestHooks, answers: Callable[..., Response] | None = None
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
        request_id = event_request_id(event)
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
