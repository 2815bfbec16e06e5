"""The rate limiter: one token bucket per principal and operation class, kept in the store.

Why the store and not a per-instance share of the budget: a function has as many instances as
its traffic asks for (Lambda scales them out and in on its own), so a share per instance would
either be far too generous (many instances) or refuse a quiet caller (few instances, each with a
sliver). A bucket in the store is right whatever the number of instances: each request reads it
and writes it back conditionally on its version (two instances racing for the last token: one
wins, the other reads again). The price is one read and one conditional write per authenticated
request; API Gateway's stage throttling (template.yaml) shields the store from floods before
anything is authenticated.
"""

from __future__ import annotations

from pilothouse.domain.ratelimits import headers, operation_class, take
from pilothouse.domain.security import Principal
from pilothouse.errors import Conflict, TooManyRequests
from pilothouse.repositories.ratelimits import RateBucketRepository
from pilothouse.services.context import ServiceContext

#: attempts at a contended bucket before the request is refused (it is then really busy)
ATTEMPTS = 8


def limit(services: ServiceContext, principal: Principal, *, operation: str, method: str) -> dict[str, str]:
    """Take a token for ``principal`` calling ``operation``; the RateLimit headers to answer with,
    or TooManyRequests (429, with Retry-After and the same headers) when the bucket is empty."""
    limits = services.settings.rate_limits
    if not limits.enabled:
        return {}
    cls = operation_class(operation, method)
    bucket = limits.bucket(principal.id, principal.role.label, cls)
    repo = RateBucketRepository(services.store)
    for _ in range(ATTEMPTS):
        now = services.clock.time()
        before = repo.get(principal.id, cls)
        state, allowed, wait = take(before.data if before else None, bucket, now=now)
        answer = headers(cls, bucket, state)
        if not allowed:
            error = TooManyRequests(
                f"too many {cls.replace('_', ' ')} for {principal.id}: {bucket.burst} per "
                f"{bucket.window} s; retry in {wait} s",
                retry_after=wait,
            )
            error.headers.update(answer)
            error.extra = {"operation_class": cls}
            raise error
        try:
            repo.save(principal.id, cls, state, before, expires_at=now + bucket.window + 60)
        except Conflict:
            continue  # another instance took a token meanwhile: read again
        return answer
    raise TooManyRequests(
        f"the {cls} bucket of {principal.id} is too contended; retry shortly", retry_after=1
    )
