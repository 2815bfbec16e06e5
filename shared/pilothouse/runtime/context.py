"""The context of the request being handled, set by the HTTP runtime for the endpoint it calls."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pilothouse.domain.security import Principal
    from pilothouse.wiring import Services


@dataclass
class RequestContext:
    request_id: str
    operation: str
    services: Services
    principal: Principal | None = None
    #: what the call acts on, for the audit record (endpoints may refine it)
    resource: str | None = None
    notes: dict = field(default_factory=dict)

    @property
    def caller(self) -> Principal:
        """The authenticated principal: an endpoint that declares a permission always has one."""
        if self.principal is None:
            from pilothouse.errors import Unauthorized

            raise Unauthorized("authentication required")
        return self.principal

    @property
    def actor(self) -> str:
        return self.principal.id if self.principal else "anonymous"


_current: ContextVar[RequestContext] = ContextVar("pilothouse_request")


def current() -> RequestContext:
    """The context of the request this thread is handling."""
    return _current.get()


def current_or_none() -> RequestContext | None:
    """The context of the request this thread is handling, if a guarded route is handling one (the
    resolver's own answers, such as its not-found, run without)."""
    return _current.get(None)


def activate(ctx: RequestContext):
    return _current.set(ctx)


def deactivate(token) -> None:
    _current.reset(token)
