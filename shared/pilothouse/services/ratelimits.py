"""The rate limiter: one token bucket per principal and operation class, kept in the store.

Why the store and not a per-instance share of the budget: a function has as many instances as
its traffic asks for (Lambda scales them out and in on its own), so a share per instance would
either be far too generous (many instances) or refuse a quiet caller (few instances, each with a
sliver). A bucket in the store is right whatever the number of instances: a request reads it and
writes it back conditionally on its version (two instances racing for the last token: one wins,
the other reads again). API Gateway's stage throttling (template.yaml) shields the store from
floods before anything is authenticated.

Small buckets (under ``2 * LEASE_SHARE`` tokens: every mutation default, most per-role rules) are
exact: each request reads the bucket and writes it back. From a large bucket an instance (a
process) takes a *lease* of ``lease_size`` tokens (at most 1/64 of the burst, at most 32) in one
read and one write, and spends them on its next requests without going to the store; a lease's
tokens not spent within ``LEASE_SECONDS`` are handed back to the bucket by the instance's next
visit. The price of the saved writes, per instance holding a lease: its unspent tokens are not
available to the other instances meanwhile (at most ``lease_size - 1`` refused too early), and
tokens taken before they were spent let the stored bucket refill where it would have been full
(at most ``lease_size - 1`` granted beyond the burst). A flood is refused all the same: every
token any instance spends came out of the one stored bucket (tests/integration/test_rate_limits.py
floods two instances).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from pilothouse.domain.ratelimits import (
    LEASE_SECONDS,
    Bucket,
    RateLimits,
    headers,
    lease_size,
    left,
    operation_class,
    policy,
    take,
    take_lease,
)
from pilothouse.domain.security import Principal, Role
from pilothouse.errors import Conflict, TooManyRequests
from pilothouse.ports import Store
from pilothouse.repositories.ratelimits import RateBucketRepository
from pilothouse.services.context import ServiceContext

#: attempts at a contended bucket before the request is refused (it is then really busy)
ATTEMPTS = 8
#: leases kept per store in this process (more principals and classes in use: they start over, the
#: dropped leases' tokens unspent)
MAX_LEASES = 4096


def limit(services: ServiceContext, principal: Principal, *, operation: str, method: str) -> dict[str, str]:
    """Take a token for ``principal`` calling ``operation``; the RateLimit headers to answer with,
    or TooManyRequests (429, with Retry-After and the same headers) when the bucket is empty."""
    limits = services.settings.rate_limits
    if not limits.enabled:
        return {}
    cls = operation_class(operation, method)
    lease = _lease(services.store, principal.id, cls)
    if lease is not None and lease.limits is limits and lease.role is principal.role:
        with lease.lock:  # a token of the lease, when one is left and the lease is current
            now = services.clock.time()
            if lease.tokens >= 1 and 0.0 <= now - lease.taken_at <= LEASE_SECONDS:
                lease.tokens -= 1
                return _lease_headers(lease, cls, now)
    bucket = limits.bucket(principal.id, principal.role.label, cls)
    size = lease_size(bucket)
    if size > 1 and lease is not None:
        return _from_lease(services, lease, principal, cls, bucket, size, limits)
    repo = RateBucketRepository(services.store)
    for _ in range(ATTEMPTS):
        now = services.clock.time()
        before = repo.get(principal.id, cls)
        state, allowed, wait = take(before.data if before else None, bucket, now=now)
        answer = headers(cls, bucket, state)
        if not allowed:
            raise _refused(principal, cls, bucket, wait, answer)
        try:
            repo.save(principal.id, cls, state, before, expires_at=now + bucket.window + 60)
        except Conflict:
            continue  # another instance took a token meanwhile: read again
        return answer
    raise _contended(principal, cls)


@dataclass(eq=False)
class _Lease:
    """Tokens this process took from one stored bucket and has yet to spend."""

    bucket: Bucket | None = None  # the bucket they were taken under
    limits: RateLimits | None = None  # the limits in force then, and the principal's role
    role: Role | None = None
    policy: str = ""  # the bucket's RateLimit-Policy header
    tokens: int = 0
    taken_at: float = 0.0
    stored: dict[str, Any] = field(default_factory=dict)  # the bucket's state as this process wrote it
    lock: threading.Lock = field(default_factory=threading.Lock)


_leases: weakref.WeakKeyDictionary[Store, dict[tuple[str, str], _Lease]] = weakref.WeakKeyDictionary()
_leases_lock = threading.Lock()


def _lease(store: Store, principal: str, cls: str) -> _Lease | None:
    """This process's lease of ``principal``'s ``cls`` bucket in ``store`` (None: a store that
    cannot be weakly referenced, whose buckets are then taken from request by request)."""
    try:
        held = _leases.get(store)
    except TypeError:
        return None
    lease = held.get((principal, cls)) if held is not None else None
    if lease is not None:
        return lease
    with _leases_lock:
        held = _leases.get(store)
        if held is None:
            held = _leases[store] = {}
        lease = held.get((principal, cls))
        if lease is None:
            if len(held) >= MAX_LEASES:
                held.clear()
            lease = held[(principal, cls)] = _Lease()
        return lease


def _from_lease(
    services: ServiceContext,
    lease: _Lease,
    principal: Principal,
    cls: str,
    bucket: Bucket,
    size: int,
    limits: RateLimits,
) -> dict[str, str]:
    """A token from this process's lease, taking a new lease from the store when it is spent or
    older than ``LEASE_SECONDS`` (its unspent tokens then go back to the bucket)."""
    with lease.lock:
        now = services.clock.time()
        current = lease.bucket == bucket and 0.0 <= now - lease.taken_at <= LEASE_SECONDS
        if current and lease.tokens >= 1:  # the same bucket under new settings: the fast path again
            lease.tokens -= 1
            lease.limits, lease.role = limits, principal.role
            return _lease_headers(lease, cls, now)
        hand_back = lease.tokens if lease.bucket == bucket else 0
        repo = RateBucketRepository(services.store)
        for _ in range(ATTEMPTS):
            now = services.clock.time()
            before = repo.get(principal.id, cls)
            state, taken, wait = take_lease(
                before.data if before else None, bucket, now=now, want=size, hand_back=hand_back
            )
            if not taken:
                raise _refused(principal, cls, bucket, wait, headers(cls, bucket, state))
            try:
                repo.save(principal.id, cls, state, before, expires_at=now + bucket.window + 60)
            except Conflict:
                continue  # another instance took tokens meanwhile: read again
            lease.bucket, lease.tokens, lease.taken_at, lease.stored = bucket, taken - 1, now, state
            lease.limits, lease.role, lease.policy = limits, principal.role, policy(cls, bucket)
            return _lease_headers(lease, cls, now)
        raise _contended(principal, cls)


def _lease_headers(lease: _Lease, cls: str, now: float) -> dict[str, str]:
    """The RateLimit headers as this process sees the bucket: what the store held when the lease
    was taken, refilled since, plus the lease's unspent tokens."""
    stored, bucket = lease.stored, lease.bucket
    assert bucket is not None  # a lease with tokens has its bucket
    refilled = stored["tokens"] + max(0.0, now - stored["at"]) * bucket.rate
    tokens = min(float(bucket.burst), refilled + lease.tokens)
    return {"RateLimit-Policy": lease.policy, "RateLimit": left(cls, bucket, tokens)}


def _refused(
    principal: Principal, cls: str, bucket: Bucket, wait: int, answer: dict[str, str]
) -> TooManyRequests:
    error = TooManyRequests(
        f"too many {cls.replace('_', ' ')} for {principal.id}: {bucket.burst} per "
        f"{bucket.window} s; retry in {wait} s",
        retry_after=wait,
    )
    error.headers.update(answer)
    error.extra = {"operation_class": cls}
    return error


def _contended(principal: Principal, cls: str) -> TooManyRequests:
    return TooManyRequests(
        f"the {cls} bucket of {principal.id} is too contended; retry shortly", retry_after=1
    )


def forget_leases() -> None:
    """Drop this process's leases, their tokens unspent (tests)."""
    with _leases_lock:
        _leases.clear()
