"""Rate limits (pure): token buckets per principal and operation class, configurable per role and
per principal (an API key ``key:<id>`` or an OIDC subject), and the IETF RateLimit headers.

    >>> limits = RateLimits(rules=(RateRule(operation_class="mutations", role="viewer", rate=1.0, burst=2),))
    >>> limits.bucket("key:k1", "viewer", "mutations")
    Bucket(rate=1.0, burst=2)
    >>> state, ok, wait = take(None, Bucket(rate=1, burst=2), now=100.0)
    >>> ok, state["tokens"], wait
    (True, 1.0, 0)
    >>> take({"tokens": 0.25, "at": 100.0}, Bucket(rate=1, burst=2), now=100.0)[1:]
    (False, 1)

The rules are standard dataclasses: pydantic validates them (``PILOTHOUSE_RATE_LIMITS``, as part
of the settings, see ``pilothouse.settings``) from the constraints their annotations carry as text,
so a request's limiter loads no pydantic (made directly, they are not validated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

if TYPE_CHECKING:
    from pydantic import Field  # the fields' constraints, read by pydantic only

OperationClass = Literal["reads", "mutations", "workflow_starts", "webhooks"]
CLASSES: tuple[str, ...] = ("reads", "mutations", "workflow_starts", "webhooks")

#: operations that start (or restart) workflow executions
WORKFLOW_STARTS = frozenset({"start_execution", "redrive_execution", "start_promotion"})


#: how pydantic validates each of them: unknown keys are refused
_STRICT_KEYS: dict[str, Any] = {"extra": "forbid"}


@dataclass(frozen=True, kw_only=True)
class Bucket:
    """A token bucket: ``burst`` tokens at most, refilled at ``rate`` tokens a second."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT_KEYS

    rate: Annotated[float, Field(gt=0, le=100_000)]
    burst: Annotated[int, Field(ge=1, le=1_000_000)]

    @property
    def window(self) -> int:
        """The seconds an empty bucket takes to fill (the policy's window)."""
        return max(1, math.ceil(self.burst / self.rate))


#: the buckets of a class no rule names; made as validation makes them (``rate`` a float)
#: (tests/unit/test_settings_fast.py checks them against validated ones)
DEFAULTS: dict[str, Bucket] = {
    "reads": Bucket(rate=20.0, burst=200),
    "mutations": Bucket(rate=5.0, burst=60),
    "workflow_starts": Bucket(rate=2.0, burst=30),
    "webhooks": Bucket(rate=10.0, burst=100),
}


@dataclass(frozen=True, kw_only=True)
class RateRule:
    """One limit: for a class of operations, for a role or one principal (or everyone)."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT_KEYS

    operation_class: OperationClass
    role: Literal["viewer", "operator", "deployer", "admin"] | None = None
    #: ``key:<id>`` or ``oidc:<issuer>#<subject>``; takes precedence over a role's rule
    principal: Annotated[str | None, Field(max_length=600)] = None
    rate: Annotated[float, Field(gt=0, le=100_000)]
    burst: Annotated[int, Field(ge=1, le=1_000_000)]


@dataclass(frozen=True, kw_only=True)
class RateLimits:
    """The limits in force (``PILOTHOUSE_RATE_LIMITS``, JSON): defaults per class, then rules."""

    __pydantic_config__: ClassVar[dict[str, Any]] = _STRICT_KEYS

    enabled: bool = True
    rules: tuple[RateRule, ...] = ()

    def bucket(self, principal: str, role: str, operation_class: str) -> Bucket:
        """The bucket for ``principal`` of ``role``: its own rule, else its role's, else the default."""
        by_role = None
        for rule in self.rules:
            if rule.operation_class != operation_class:
                continue
            if rule.principal == principal:
                return Bucket(rate=rule.rate, burst=rule.burst)
            if rule.principal is None and rule.role in (role, None) and (by_role is None or rule.role):
                by_role = rule
        if by_role is not None:
            return Bucket(rate=by_role.rate, burst=by_role.burst)
        return DEFAULTS[operation_class]


def operation_class(name: str, method: str) -> str:
    """The class an operation's requests count against."""
    if "webhook" in name:
        return "webhooks"
    if name in WORKFLOW_STARTS:
        return "workflow_starts"
    return "reads" if method in ("GET", "HEAD", "OPTIONS") else "mutations"


def take(state: dict[str, Any] | None, bucket: Bucket, *, now: float) -> tuple[dict[str, Any], bool, int]:
    """Take one token: the bucket's new state, whether the request may go on, and (if not) the
    whole seconds to wait for a token."""
    if state is None:
        tokens = float(bucket.burst)
    else:
        elapsed = max(0.0, now - float(state["at"]))
        tokens = min(float(bucket.burst), float(state["tokens"]) + elapsed * bucket.rate)
    if tokens >= 1.0:
        return {"tokens": tokens - 1.0, "at": now}, True, 0
    return {"tokens": tokens, "at": now}, False, max(1, math.ceil((1.0 - tokens) / bucket.rate))


def headers(operation_class: str, bucket: Bucket, state: dict[str, Any]) -> dict[str, str]:
    """The IETF ``RateLimit-Policy`` and ``RateLimit`` headers (draft-ietf-httpapi-ratelimit-headers):
    quota ``q`` per window ``w``; remaining ``r`` and seconds ``t`` until the bucket is full again."""
    return {
        "RateLimit-Policy": policy(operation_class, bucket),
        "RateLimit": left(operation_class, bucket, state["tokens"]),
    }


def policy(operation_class: str, bucket: Bucket) -> str:
    """The ``RateLimit-Policy`` header: quota ``q`` per window ``w``."""
    return f'"{operation_class}";q={bucket.burst};w={bucket.window}'


def left(operation_class: str, bucket: Bucket, tokens: float) -> str:
    """The ``RateLimit`` header of a bucket holding ``tokens``: remaining ``r`` and seconds ``t``
    until it is full again."""
    remaining = max(0, math.floor(tokens))
    full_in = max(0, math.ceil((bucket.burst - tokens) / bucket.rate))
    return f'"{operation_class}";r={remaining};t={full_in}'


#: a lease is at most this share of its bucket's burst (1/64: a bucket under 128 tokens is not leased)
LEASE_SHARE = 64
#: and at most this many tokens
LEASE_MAX = 32
#: the seconds a lease's tokens may be spent after they were taken; the rest is handed back
LEASE_SECONDS = 1.0


def lease_size(bucket: Bucket) -> int:
    """The tokens an instance takes from ``bucket`` at once: ``burst / LEASE_SHARE``, at most
    ``LEASE_MAX``; 1 (no lease: every request takes its own token from the store) below 2.

    >>> lease_size(Bucket(rate=20, burst=200)), lease_size(Bucket(rate=1, burst=5))
    (3, 1)
    >>> lease_size(Bucket(rate=100_000, burst=1_000_000))
    32
    """
    return max(1, min(LEASE_MAX, bucket.burst // LEASE_SHARE))


def take_lease(
    state: dict[str, Any] | None, bucket: Bucket, *, now: float, want: int, hand_back: float = 0.0
) -> tuple[dict[str, Any], int, int]:
    """Take up to ``want`` tokens at once (at least one, else none), after putting back the
    ``hand_back`` tokens of an expired lease (the bucket never over ``burst``): the bucket's new
    state, the tokens taken (0: refused) and, if refused, the whole seconds to wait for a token.

    >>> take_lease(None, Bucket(rate=1, burst=200), now=10.0, want=3)
    ({'tokens': 197.0, 'at': 10.0}, 3, 0)
    >>> take_lease({"tokens": 2.5, "at": 10.0}, Bucket(rate=1, burst=200), now=10.0, want=3)
    ({'tokens': 0.5, 'at': 10.0}, 2, 0)
    >>> take_lease({"tokens": 0.5, "at": 10.0}, Bucket(rate=1, burst=200), now=10.0, want=3, hand_back=1)
    ({'tokens': 0.5, 'at': 10.0}, 1, 0)
    >>> take_lease({"tokens": 0.5, "at": 10.0}, Bucket(rate=1, burst=200), now=10.0, want=3)
    ({'tokens': 0.5, 'at': 10.0}, 0, 1)
    """
    if state is None:
        tokens = float(bucket.burst)
    else:
        elapsed = max(0.0, now - float(state["at"]))
        tokens = min(float(bucket.burst), float(state["tokens"]) + elapsed * bucket.rate)
    tokens = min(float(bucket.burst), tokens + hand_back)
    if tokens >= 1.0:
        taken = min(want, math.floor(tokens))
        return {"tokens": tokens - taken, "at": now}, taken, 0
    return {"tokens": tokens, "at": now}, 0, max(1, math.ceil((1.0 - tokens) / bucket.rate))
