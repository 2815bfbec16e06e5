"""Deployment policies: stored and versioned, evaluated on every mutating request before it is
accepted (:func:`enforce`, called by admission), tried on past or hypothetical requests (:func:`test`).

Freezes stay as they are (``services.freezes``) and count as a built-in policy: ``list`` shows
it, and ``test`` reports what it would refuse.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Hashable
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from pilothouse.clock import iso
from pilothouse.domain.policies import Policy, PolicyMatch, compile_rule, context, evaluate
from pilothouse.errors import Conflict, Forbidden, NotFound, ValidationFailed
from pilothouse.repositories.deployments import FreezeRepository
from pilothouse.repositories.policies import PK as POLICY_PK
from pilothouse.repositories.policies import PolicyRepository
from pilothouse.services.context import ServiceContext

FREEZE_POLICY = {
    "name": "builtin-freeze",
    "description": "a frozen component or environment refuses deploys, updates, retries (pilothouse freeze)",
    "builtin": True,
    "type": "window",
    "mode": "enforce",
}
FROZEN_OPERATIONS = frozenset(
    {"deploy_component", "update_component", "retry_component", "rollback_component"}
)

#: compiled rules by their text (a policy deleted and created again starts at version 1 anew, so
#: name and version do not name a rule): each rule compiles once per process
_programs: dict[str, Any] = {}
_programs_lock = threading.Lock()


def repo(services: ServiceContext) -> PolicyRepository:
    return PolicyRepository(services.store)


def _parse(body: dict[str, Any]) -> Policy:
    try:
        return Policy.model_validate(body)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"]) or "body",
                "in": "body",
                "message": e["msg"],
                "type": e["type"],
            }
            for e in exc.errors()
        ]
        raise ValidationFailed(
            "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]), errors
        ) from None


def _public(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "deleted"}


def create(services: ServiceContext, body: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Store a new policy at version 1 (409 if the name is taken)."""
    policy = _parse(body)
    now = iso(services.clock.time())
    data = {
        **policy.model_dump(mode="json"),
        "version": 1,
        "created_at": now,
        "created_by": actor,
        "updated_at": now,
        "updated_by": actor,
    }
    try:
        repo(services).write(data, None)
    except Conflict:
        raise Conflict(f"a policy named {policy.name!r} exists already", extra={"field": "name"}) from None
    return _public(data)


def get(services: ServiceContext, name: str) -> dict[str, Any]:
    item = repo(services).get(name)
    if item is None:
        raise NotFound(f"no policy named {name!r}")
    return {**_public(item.data), "history": [_summary(v) for v in repo(services).versions(name)]}


def _summary(version: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": version["version"],
        "updated_at": version["updated_at"],
        "updated_by": version["updated_by"],
    }


def list_policies(services: ServiceContext) -> list[dict[str, Any]]:
    """Every policy, by name, then the built-in freeze policy."""
    items = sorted((_public(i.data) for i in repo(services).all()), key=lambda d: d["name"])
    return [*items, FREEZE_POLICY]


def update(
    services: ServiceContext, name: str, body: dict[str, Any], *, actor: str, expected_version: int | None
) -> dict[str, Any]:
    """Replace a policy's definition as a new version (409 when ``expected_version`` is not the
    current one, or another update won the race)."""
    before = repo(services).get(name)
    if before is None:
        raise NotFound(f"no policy named {name!r}")
    policy = _parse({**body, "name": name})
    if expected_version is not None and expected_version != before.data["version"]:
        raise Conflict(
            f"policy {name!r} is at version {before.data['version']}, not {expected_version}",
            extra={"field": "expected_version", "version": before.data["version"]},
        )
    data = {
        **before.data,
        **policy.model_dump(mode="json"),
        "version": before.data["version"] + 1,
        "updated_at": iso(services.clock.time()),
        "updated_by": actor,
    }
    try:
        repo(services).write(data, before)
    except Conflict:
        raise Conflict(f"policy {name!r} changed meanwhile; read it again") from None
    return _public(data)


def delete(services: ServiceContext, name: str, *, actor: str) -> None:
    before = repo(services).get(name)
    if before is None:
        raise NotFound(f"no policy named {name!r}")
    data = {
        **before.data,
        "version": before.data["version"] + 1,
        "updated_at": iso(services.clock.time()),
        "updated_by": actor,
    }
    try:
        repo(services).delete(data, before)
    except Conflict:
        raise Conflict(f"policy {name!r} changed meanwhile; read it again") from None


def _program(policy: Policy, version: int) -> Any:
    key = policy.rule
    with _programs_lock:
        program = _programs.get(key)
    if program is None:
        program = compile_rule(policy.rule)
        with _programs_lock:
            if len(_programs) > 10_000:  # rules edited over and over: start afresh
                _programs.clear()
            _programs[key] = program
    return program


def decide(policies: list[tuple[Policy, int]], facts: dict[str, Any], *, now: float) -> list[dict[str, Any]]:
    """Every matching policy's decision on ``facts``: name, version, mode, type, decision."""
    ctx = None
    out = []
    for policy, version in policies:
        if not policy.match.covers(str(facts.get("operation", "")), str(facts.get("environment", ""))):
            continue
        if ctx is None:
            ctx = context(facts, now=now)  # built once, and only when a policy matches
        decision = evaluate(policy, _program(policy, version), facts, now=now, ctx=ctx)
        out.append(
            {
                "policy": policy.name,
                "version": version,
                "mode": policy.mode,
                "type": policy.type,
                "decision": decision,
            }
        )
    return out


#: the policies each store held at a generation, kept per process: store -> (generation, policies)
_cache: weakref.WeakKeyDictionary[Any, tuple[str, list[tuple[Policy, int]]]] = weakref.WeakKeyDictionary()


class _Generations(threading.local):
    """The policy set's generation token each store had as this thread last read it, with the
    store's stamp of the policies' partition taken before (a stamp compares only with the same
    thread's)."""

    def __init__(self) -> None:
        self.stores: weakref.WeakKeyDictionary[Any, tuple[Hashable, str | None]] = weakref.WeakKeyDictionary()


_generations = _Generations()


def _generation(services: ServiceContext) -> str | None:
    """The policy set's generation token, read again only when the store's stamp of the policies'
    partition moved (:meth:`~pilothouse.ports.Store.change_stamp`: a policy written by any process
    moves it, so the next request sees it, as when the token was read every time)."""
    store = services.store
    stamp = store.change_stamp(POLICY_PK)
    try:
        known = _generations.stores.get(store) if stamp is not None else None
    except TypeError:  # a store that cannot be weakly referenced: read every time
        return repo(services).generation()
    if known is not None and known[0] == stamp:
        return known[1]
    generation = repo(services).generation()
    if stamp is not None:
        _generations.stores[store] = (stamp, generation)
    return generation


def stored_policies(services: ServiceContext) -> list[tuple[Policy, int]]:
    """The stored policies (parsed), read again only when the policy set's generation changed."""
    generation = _generation(services)
    if generation is None:
        return []
    try:
        cached = _cache.get(services.store)
    except TypeError:  # a store that cannot be weakly referenced: no cache
        cached = None
    if cached is not None and cached[0] == generation:
        return cached[1]
    policies = _read_policies(services)
    with contextlib.suppress(TypeError):
        _cache[services.store] = (generation, policies)
    return policies


def _read_policies(services: ServiceContext) -> list[tuple[Policy, int]]:
    out = []
    for item in repo(services).all():
        d = item.data
        policy = Policy.model_construct(  # validated when written; the rule compiles once (_program)
            name=d["name"],
            description=d["description"],
            match=PolicyMatch.model_validate(d["match"]),
            rule=d["rule"],
            message=d["message"],
            type=d["type"],
            mode=d["mode"],
        )
        out.append((policy, d["version"]))
    return out


#: never judged by policies: a policy that refused these would lock its own fixers out
EXEMPT = frozenset({"create_policy", "update_policy", "delete_policy", "test_policy"})


def enforce(services: ServiceContext, facts: dict[str, Any]) -> list[dict[str, Any]]:
    """Evaluate the stored policies on a request's facts; the decisions (for the audit record),
    or Forbidden (403) / Conflict (409, a window) naming the first enforcing policy that denies.
    The policy operations themselves are exempt (a broken policy can always be fixed)."""
    if facts.get("operation") in EXEMPT:
        return []
    policies = stored_policies(services)
    if not policies:
        return []
    by_name = {p.name: p for p, _ in policies}
    decisions = decide(policies, facts, now=services.clock.time())
    for d in decisions:
        if d["decision"] == "deny" and d["mode"] == "enforce":
            policy = by_name[d["policy"]]
            message = policy.message or f"the request breaks policy {policy.name}"
            error_type = Conflict if policy.type == "window" else Forbidden
            raise error_type(
                f"policy {policy.name}: {message}",
                extra={
                    "policy": policy.name,
                    "policy_version": d["version"],
                    "policy_message": message,
                    "decisions": decisions,
                },
            )
    return decisions


def _frozen(services: ServiceContext, facts: dict[str, Any]) -> str | None:
    if facts.get("operation") not in FROZEN_OPERATIONS:
        return None
    freezes = FreezeRepository(services.store)
    component = (facts.get("component") or {}).get("name") or ""
    for scope, target in (("component", component), ("environment", facts.get("environment") or "")):
        if target and freezes.get(scope, target) is not None:
            return f"{scope} {target} is frozen"
    return None


def test(
    services: ServiceContext,
    *,
    policy: dict[str, Any] | None,
    requests: list[dict[str, Any]] | None,
    since: str | None,
    limit: int = 500,
) -> dict[str, Any]:
    """What ``policy`` (a definition not stored yet; else the stored policies) would decide on
    hypothetical ``requests`` (facts as policies see them, each with an optional ``at`` epoch) and
    on the past mutating requests of the audit trail since the day ``since``."""
    from pilothouse.services import audit_verify

    candidates = [(_parse(policy), 0)] if policy else stored_policies(services)
    cases: list[dict[str, Any]] = []
    for n, facts in enumerate(requests or []):
        if not isinstance(facts, dict):
            raise ValidationFailed.field(f"requests.{n}", "a request's facts, as an object")
        cases.append(
            {"source": f"requests.{n}", "facts": facts, "at": float(facts.get("at", services.clock.time()))}
        )
    if since is not None:
        past, _ = audit_verify.export(services, since=since, limit=limit)
        for record in past:
            if record.get("request"):
                at = datetime.fromisoformat(str(record["at"]).replace("Z", "+00:00")).timestamp()
                cases.append(
                    {"source": f"audit:{record.get('request_id')}", "facts": record["request"], "at": at}
                )
    results = []
    for case in cases:
        decisions = decide(candidates, case["facts"], now=case["at"])
        frozen = _frozen(services, case["facts"]) if not policy else None
        if frozen:
            decisions.append(
                {
                    "policy": "builtin-freeze",
                    "version": 0,
                    "mode": "enforce",
                    "type": "window",
                    "decision": "deny",
                    "reason": frozen,
                }
            )
        denied = [d["policy"] for d in decisions if d["decision"] == "deny"]
        results.append(
            {
                "source": case["source"],
                "operation": case["facts"].get("operation"),
                "decisions": decisions,
                "denied_by": denied,
            }
        )
    return {
        "evaluated": len(results),
        "denied": sum(1 for r in results if r["denied_by"]),
        "results": results,
    }
