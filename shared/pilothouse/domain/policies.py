"""Deployment policies (pure): declarative rules in CEL over the facts of a mutating request.

A policy *matches* a request by operation and environment (plain lists, checked before any CEL
runs, as Kubernetes' matchConstraints), then its ``rule`` (a CEL expression, evaluated by the
``common-expression-language`` package) must hold, or the request is refused with the policy's
``message``: 403, or 409 for a ``window`` policy (a deploy window, as Argo CD's sync windows).
``mode: audit`` records what the policy would decide without refusing anything (dry run).

The variables a rule sees (:func:`pilothouse.services.admission.request_facts`):

* ``principal`` — ``id``, ``kind``, ``role``, ``groups``, ``issuer``, ``email``...
* ``operation`` — the operation's name (``update_component``, ``scale_component``...)
* ``component`` — ``name``, ``environment``, ``provider``, ``labels``, ``state``, ``replicas``
* ``environment`` — the environment of what the request changes
* ``request`` — its body, plus ``strategy`` (``type``, ``steps``, ``canary``, ``analysis``,
  ``approval``), ``break_glass`` and ``break_glass_reason`` (the ``Break-Glass`` header)
* ``now`` — the request's time (a timestamp); ``local_time("Europe/Berlin")`` gives
  ``weekday`` ("Friday"), ``day_of_week`` (0 = Sunday), ``hour``, ``minute``, ``date``

    >>> p = Policy(name="dev-replicas", rule="request.replicas <= 10",
    ...            match=PolicyMatch(operations=("scale_component",), environments=("development",)),
    ...            message="at most 10 replicas in development")
    >>> facts = {"operation": "scale_component", "environment": "development", "request": {"replicas": 12}}
    >>> evaluate(p, compile_rule(p.rule), facts, now=0.0)
    'deny'
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class PolicyMatch(BaseModel):
    """Which requests a policy looks at (empty: every mutating request)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    operations: tuple[str, ...] = Field(default=(), max_length=100)
    environments: tuple[Literal["development", "staging", "production"], ...] = ()

    def covers(self, operation: str, environment: str) -> bool:
        return (not self.operations or operation in self.operations) and (
            not self.environments or environment in self.environments
        )


class Policy(BaseModel):
    """A policy as created or updated through the API."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")
    description: str = Field(default="", max_length=1000)
    match: PolicyMatch = PolicyMatch()
    #: a CEL expression that must be true for the request to be accepted
    rule: str = Field(min_length=1, max_length=4000)
    #: what a refused caller is told
    message: str = Field(default="", max_length=500)
    #: ``window``: a time window (409 Conflict, retry later); ``rule``: 403 Forbidden
    type: Literal["rule", "window"] = "rule"
    #: ``enforce`` refuses; ``audit`` only records the decision (dry run)
    mode: Literal["enforce", "audit"] = "enforce"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("lower-case letters, digits and '-', at most 64")
        return value

    @field_validator("rule")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_rule(value)
        return value


class RuleError(ValueError):
    """A rule that does not compile, or that failed while evaluated (``args[0]`` says how)."""


def compile_rule(rule: str) -> Any:
    """The compiled CEL program of ``rule`` (RuleError naming the syntax error)."""
    import cel

    try:
        return cel.compile(rule)
    except (ValueError, RuntimeError) as exc:
        raise RuleError(f"not a CEL expression: {str(exc).splitlines()[0][:300]}") from None


def local_time(now: float, zone: str) -> dict[str, Any]:
    """The wall-clock time ``now`` in time zone ``zone`` (an IANA name such as Europe/Berlin)."""
    try:
        moment = datetime.fromtimestamp(now, ZoneInfo(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise RuleError(f"unknown time zone {zone!r}") from None
    return {
        "weekday": WEEKDAYS[moment.weekday()],
        "day_of_week": (moment.weekday() + 1) % 7,
        "hour": moment.hour,
        "minute": moment.minute,
        "date": moment.date().isoformat(),
    }


def context(facts: dict[str, Any], *, now: float) -> Any:
    """The CEL context of one request, built once and shared by every policy evaluated on it."""
    import cel

    ctx = cel.Context()
    ctx.update({**facts, "now": datetime.fromtimestamp(now, UTC)})
    ctx.add_function("local_time", lambda zone: local_time(now, str(zone)))
    return ctx


def evaluate(policy: Policy, program: Any, facts: dict[str, Any], *, now: float, ctx: Any = None) -> str:
    """``skip`` (the policy does not match), ``allow`` or ``deny``; a rule that fails to evaluate
    (a missing field, a wrong type) denies (RuleError is not raised: fail closed)."""
    if not policy.match.covers(str(facts.get("operation", "")), str(facts.get("environment", ""))):
        return "skip"
    try:
        result = program.execute(ctx if ctx is not None else context(facts, now=now))
    except Exception:
        return "deny"
    return "allow" if result is True else "deny"
