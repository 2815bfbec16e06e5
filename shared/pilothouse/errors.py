"""The domain error family and its one mapping to RFC 9457 problem details.

Services raise these; the HTTP runtime turns any of them into ``application/problem+json`` with
:meth:`PilothouseError.problem`. Adapters wrap backend errors into them (``raise Conflict(...) from exc``).
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://pilothouse.dev/problems/"


class PilothouseError(Exception):
    """Base of every error Pilothouse reports to a caller."""

    status = 500
    code = "internal-error"
    title = "Internal error"

    def __init__(
        self, detail: str, *, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}

    def problem(self, *, instance: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        """The RFC 9457 body for this error."""
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if request_id:
            body["request_id"] = request_id
        body.update(self.extra)
        return body


class BadRequest(PilothouseError):
    status, code, title = 400, "bad-request", "Bad request"


class ValidationFailed(PilothouseError):
    """Input that parsed but is not acceptable; ``errors`` name the offending fields."""

    status, code, title = 422, "validation-error", "Validation failed"

    def __init__(self, detail: str, errors: list[dict[str, Any]]):
        super().__init__(detail, extra={"errors": errors})
        self.errors = errors

    @classmethod
    def field(cls, field: str, message: str) -> ValidationFailed:
        return cls(f"{field}: {message}", [{"field": field, "message": message}])


class Unauthorized(PilothouseError):
    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str = "a valid API key or bearer token is required"):
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="pilothouse"'})


class Forbidden(PilothouseError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(PilothouseError):
    status, code, title = 404, "not-found", "Not found"


class MethodNotAllowed(PilothouseError):
    status, code, title = 405, "method-not-allowed", "Method not allowed"


class Conflict(PilothouseError):
    """A request that contradicts the current state (illegal transition, lost race, duplicate)."""

    status, code, title = 409, "conflict", "Conflict"


class VersionConflict(Conflict):
    """An optimistic-concurrency check failed: someone else changed the record first."""

    code, title = "version-conflict", "Version conflict"


class AlreadyExists(Conflict):
    code, title = "already-exists", "Already exists"


class IllegalTransition(Conflict):
    code, title = "illegal-transition", "Illegal transition"

    def __init__(self, command: str, state: str, allowed: list[str]):
        super().__init__(
            f"cannot {command} a component in state {state}; allowed in {state}: "
            + (", ".join(allowed) if allowed else "none"),
            extra={"state": state, "command": command, "allowed_commands": allowed},
        )


class PayloadTooLarge(PilothouseError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(PilothouseError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class TooManyRequests(PilothouseError):
    status, code, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str, retry_after: int = 1):
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class ConfigurationError(PilothouseError):
    """The deployment itself is misconfigured (bad settings); never the caller's fault."""

    code, title = "configuration-error", "Configuration error"


class StoreError(PilothouseError):
    """A backend failed in a way the caller cannot fix; retrying later may help."""

    status, code, title = 503, "store-unavailable", "Store unavailable"


class TransactionScopeError(PilothouseError):
    """A transaction spans partitions on a store that commits only inside one (Azure Tables).

    Always a bug in Pilothouse, never the caller's: each transaction the services issue must keep
    to one partition (see ``Store.transaction_scope``)."""

    status, code, title = 500, "transaction-scope", "Transaction spans partitions"
