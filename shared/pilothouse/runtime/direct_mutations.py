"""The direct path of a mutation with a JSON body: served without Powertools' resolver machinery,
with the same steps, parts and answer.

On a warm ``POST /v1/components`` the resolver's machinery around the route's two middlewares
(its route match, the route's call rebuilding the middleware frames on every request, each
frame's debug text and keyword inspection, the adapter, the resolved-headers copy the answer's
builder reads) cost about as much as authenticating the caller. For a route whose checks are a
:class:`~pilothouse.runtime.body_params.BodyValidation` plan and the route's guard,
:class:`DirectMutations` does the same steps itself, in the same order and with the same parts:

    match (Powertools' route rules, in its order) → the body refused before parsing? → validate
    (the route's BodyValidation plan, on the event Powertools would wrap) → the route's guard
    (context, auth, limits, admission, idempotency, audit, problem+json) → the endpoint, its
    result made a ``Response`` by the resolver's ``_to_response`` → Powertools' ``ResponseBuilder``

An exception escaping the guard goes to the resolver's exception handlers, as Powertools does.
Whatever it does not cover is handed back (``None``: the resolver answers it, and nothing has
happened yet): no body, a route with other middlewares or parameters, Powertools' debug mode, a
body refused before parsing, and any request its plan does not pass (the resolver answers the
401/403/413/415/422 as always). Answers validated (``PILOTHOUSE_RESPONSE_VALIDATION``) are
validated by the guard on both paths, which reads only the matched route from the context.
``tests/unit/test_direct_mutations.py`` compares the answers, audit records and stored state of
both paths request by request.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import api_gateway
from aws_lambda_powertools.event_handler.api_gateway import ProxyEventType

from pilothouse.runtime.body_params import BodyValidation, _arguments, _Plan
from pilothouse.runtime.http_direct import _EventView, event_route
from pilothouse.runtime.problems import body_problem

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

    from pilothouse.runtime.guard import Guard
    from pilothouse.runtime.operations import Operation

__all__ = ["DirectMutations"]


@dataclass(frozen=True)
class _Mutation:
    """A mutating route served directly: its Powertools route, validation, guard and parameters."""

    route: Any  # Powertools' Route: its compiled rule, status code, cors/compress/cache settings
    op: Operation
    validation: BodyValidation
    guard: Guard
    params: frozenset[str]  # the endpoint's parameters


def _parts(route: Any, op: Operation) -> _Mutation | None:
    """The route as a direct mutation, or None when the direct path does not cover it."""
    from pilothouse.runtime.guard import Guard

    if not op.mutating or getattr(route, "has_dependencies", False) or route.enable_validation is not False:
        return None
    found = list(route.middlewares or ())
    if [type(m) for m in found] != [BodyValidation, Guard]:
        return None
    validation, guard = found
    if guard.answers is None:
        return None  # answers validated outside the guard: the full path
    params = frozenset(inspect.signature(op.func, eval_str=False).parameters)
    return _Mutation(route, op, validation, guard, params)


class DirectMutations:
    """Serves the direct mutation path of one function's resolver (see the module's docstring)."""

    def __init__(self, app: APIGatewayHttpResolver, operations: list[Operation]) -> None:
        self.app = app
        by_func = {op.func: op for op in operations}
        plain = (
            not app._router_middlewares
            and not app._strip_prefixes
            and not app._debug
            and app._proxy_type is ProxyEventType.APIGatewayProxyEventV2
        )
        #: every route in Powertools' matching order, with its direct parts (None: not served here)
        self.routes: list[tuple[Any, _Mutation | None]] = []
        for route in [*app._static_routes, *app._dynamic_routes]:
            op = by_func.get(route.func)
            self.routes.append((route, _parts(route, op) if op is not None and plain else None))
        self.any = any(parts is not None for _, parts in self.routes)

    def _match(self, method: str, path: str) -> tuple[_Mutation, dict[str, str]] | None:
        for route, mutation in self.routes:  # as Powertools' _resolve: the first route that matches
            if route.method != method:
                continue
            found = route.rule.match(path)
            if found:
                return (mutation, found.groupdict()) if mutation is not None else None
        return None

    def serve_event(self, event: dict[str, Any], context: Any) -> dict[str, Any] | None:
        """The handler's answer to a payload-2.0 ``event`` with a body, or None: the resolver
        answers it."""
        if not self.any or not event.get("body"):
            return None
        route = event_route(event)
        if route is None:
            return None  # the resolver's answer to a malformed event
        method, path = route
        matched = self._match(method, path)
        if matched is None:
            return None
        mutation, captures = matched
        if body_problem(event) is not None:
            return None
        plan = mutation.validation.plan_of(mutation.route)
        if not isinstance(plan, _Plan):
            return None
        return self._serve(mutation, plan, event, context, path, captures)

    def _serve(
        self,
        mutation: _Mutation,
        plan: _Plan,
        event: dict[str, Any],
        context: Any,
        path: str,
        captures: dict[str, str],
    ) -> dict[str, Any] | None:
        app = self.app
        route = mutation.route
        # what the resolver sets before the route's middlewares run (IsolatedHttpResolver.resolve,
        # Powertools' _resolve and the route's call)
        app.current_event = app._proxy_event(event)  # type: ignore[attr-defined]
        app.lambda_context = context
        app.clear_context()
        app.append_context(_body_problem=None, _route=route, _path=path, _route_args=captures)
        try:
            try:
                values = _arguments(plan, app)
            except Exception:  # the resolver's path raises it again, where its handlers see it
                values = None
            if values is None or set(values) != mutation.params:
                return None
            app.context["_route_args"] = values
            try:
                ctx = mutation.guard.begin(event)
                response = mutation.guard.run(app, ctx, event, None, self._endpoint(mutation, values))
                builder = app._response_builder_class(
                    response=app._to_response(response),  # type: ignore[arg-type]  # as _call_route
                    serializer=app._serializer,
                    route=route,
                )
            except Exception as exc:  # as Powertools' _call_route: the resolver's handlers, or raise
                handled = app._call_exception_handler(exc, route)
                if handled is None:
                    api_gateway.logger.exception(exc)
                    raise
                builder = handled
            headers = event.get("headers") or {}
            view = _EventView({k.lower(): v for k, v in headers.items()})
            return builder.build(view, app._cors)  # type: ignore[arg-type]  # what build reads of it
        finally:
            app.clear_context()

    @staticmethod
    def _endpoint(mutation: _Mutation, values: dict[str, Any]) -> Callable[[Any], Response]:
        """The innermost call, as Powertools' adapter makes it: the endpoint with its arguments,
        its result made a Response by the resolver."""

        def call(app: Any) -> Response:
            return app._to_response(mutation.op.func(**values))

        return call
