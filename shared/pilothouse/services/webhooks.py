"""Inbound webhooks: sources (kind, rules, a secret shown once and rotatable), and deliveries.

:func:`receive` is the hot path of ``POST /v1/webhooks/{source}``: one read of the source and its
secret, the signature check, one conditional write of the delivery (its sender's delivery id is the
key, so a repeated delivery is recognised and not processed again), one queue message; the answer
is 202 before any rule runs. :mod:`pilothouse.services.webhook_actions` processes it from the jobs
queue. A delivery that fails the check is refused (401) and nothing is stored for it (the request's
audit record aside).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from pilothouse.clock import iso, wall_time
from pilothouse.domain.webhooks import (
    SignatureInvalid,
    SourceChange,
    SourceSpec,
    delivery_id,
    normalize,
    verify,
)
from pilothouse.errors import AlreadyExists, NotFound, Unauthorized, ValidationFailed, VersionConflict
from pilothouse.repositories.webhooks import WebhookRepository
from pilothouse.services import sealing
from pilothouse.services.context import ServiceContext

MESSAGE_KIND = "webhook_delivery"


def repo(services: ServiceContext) -> WebhookRepository:
    return WebhookRepository(services.store)


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def view(data: dict[str, Any]) -> dict[str, Any]:
    """A source as answered: never its secret."""
    return dict(data)


# -- sources --------------------------------------------------------------------------------------


def check_rules(services: ServiceContext, spec: SourceSpec | SourceChange) -> None:
    """422 naming the rule field whose component, system, workflow or mapping does not exist or parse."""
    from pilothouse.engine.jsonata_bridge import check_syntax, is_expression
    from pilothouse.engine.jsonpath import is_valid_path
    from pilothouse.repositories.components import ComponentRepository
    from pilothouse.repositories.systems import SystemRepository
    from pilothouse.repositories.workflows import WorkflowRepository

    comps, systems = ComponentRepository(services.store), SystemRepository(services.store)
    for i, rule in enumerate(spec.rules or []):
        do, where = rule.do, f"rules[{i}].do"
        missing: list[tuple[str, str]] = []
        if do.type == "update_component":
            missing += [("component", do.component)] if comps.get(do.component) is None else []
        elif do.type == "promote_component":
            missing += [
                (f, n) for f, n in (("source", do.source), ("target", do.target)) if comps.get(n) is None
            ]
        elif do.type == "update_system":
            system = systems.get(do.system)
            if system is None:
                missing.append(("system", do.system))
            else:
                members = {m["name"] for m in system.data["spec"]["components"]}
                missing += [("components", c) for c in do.components if c not in members]
        elif do.type == "promote_system":
            missing += [(f, n) for f, n in (("system", do.system), ("to", do.to)) if systems.get(n) is None]
        elif do.type == "start_workflow":
            if WorkflowRepository(services.store).get(do.workflow) is None:
                missing.append(("workflow", do.workflow))
            if do.jsonpath is not None and not (do.jsonpath.startswith("$") and is_valid_path(do.jsonpath)):
                raise ValidationFailed.field(f"{where}.jsonpath", f"{do.jsonpath!r} is not a JSONPath ($...)")
            if do.jsonata is not None:
                why = check_syntax(do.jsonata) if is_expression(do.jsonata) else "write it as {% ... %}"
                if why:
                    raise ValidationFailed.field(f"{where}.jsonata", f"not a JSONata expression: {why}")
        if missing:
            field, name = missing[0]
            raise ValidationFailed.field(f"{where}.{field}", f"{name!r} does not exist (or is not a member)")
        if rule.on.event in ("push", "any") and rule.on.tag and do.type != "start_workflow":
            raise ValidationFailed.field(f"rules[{i}].on.tag", "a tag pattern needs event 'tag' or 'release'")


def create(services: ServiceContext, spec: SourceSpec, *, actor: str) -> dict[str, Any]:
    """Register a source; the answer carries its secret, the only time it is shown."""
    check_rules(services, spec)
    now = iso(services.clock.time())
    data = {**spec.model_dump(mode="json"), "created_at": now, "updated_at": now, "created_by": actor}
    secret = new_secret()
    try:
        repo(services).create(data, _sealed(services, spec.name, secret, now))
    except AlreadyExists:
        raise AlreadyExists(
            f"a webhook source named {spec.name!r} exists already", extra={"field": "name"}
        ) from None
    return {**view(data), "secret": secret, "url": f"/v1/webhooks/{spec.name}"}


def change(services: ServiceContext, name: str, change: SourceChange, *, actor: str) -> dict[str, Any]:
    item = repo(services).require(name)
    check_rules(services, change)
    updates = change.model_dump(mode="json", exclude_none=True)
    data = {**item.data, **updates, "updated_at": iso(services.clock.time())}
    try:
        repo(services).save(item, data)
    except VersionConflict:
        raise VersionConflict(f"webhook source {name!r} changed meanwhile; read it again") from None
    return view(data)


def rotate(services: ServiceContext, name: str, *, actor: str) -> dict[str, Any]:
    """A new secret (shown in this answer only); the old one stops working at once."""
    item = repo(services).require(name)
    now = iso(services.clock.time())
    secret = new_secret()
    data = {**item.data, "updated_at": now, "secret_rotated_at": now}
    try:
        repo(services).save(item, data, _sealed(services, name, secret, now))
    except VersionConflict:
        raise VersionConflict(f"webhook source {name!r} changed meanwhile; rotate again") from None
    return {**view(data), "secret": secret}


def _sealed(services: ServiceContext, name: str, secret: str, now: str) -> dict[str, Any]:
    """The secret record: the value sealed at rest (envelope encryption under the master keys), bound
    to its source so that a sealed value copied onto another source does not open."""
    return {
        "source": name,
        "secret": sealing.seal(services, secret, context=f"webhook:{name}"),
        "created_at": now,
    }


def get(services: ServiceContext, name: str) -> dict[str, Any]:
    return view(repo(services).require(name).data)


def list_sources(services: ServiceContext, *, limit: int = 50, cursor: str | None = None):
    page = repo(services).page(limit=limit, cursor=cursor)
    return [view(i.data) for i in page.items], page.cursor


def delete(services: ServiceContext, name: str) -> None:
    repo(services).delete(repo(services).require(name))


# -- deliveries -----------------------------------------------------------------------------------


def receive(services: ServiceContext, source: str, headers: dict[str, str], body: bytes) -> tuple[int, dict]:
    """Check, record and queue one delivery: ``(202, answer)``, or ``(200, answer)`` for a delivery
    id seen before (not processed again). Unauthorized when the source is unknown or the signature
    does not check (the answer does not say which)."""
    item = repo(services).get(source)
    sealed = repo(services).secret(source) if item is not None else None
    secret = sealing.unseal(services, sealed, context=f"webhook:{source}") if sealed else None
    now = services.clock.time()
    if item is None or secret is None:
        raise Unauthorized("the delivery's signature does not check")
    kind = item.data["kind"]
    try:
        verify(kind, secret, headers, body, now=wall_time(services.clock))  # the sender's clock
    except SignatureInvalid as exc:
        raise Unauthorized(f"the delivery's signature does not check: {exc}") from None
    delivery = delivery_id(kind, headers)
    if delivery is None:
        raise ValidationFailed.field(
            "headers",
            f"a {kind} delivery needs its delivery id header (letters, digits, . _ : -; at most 128)",
        )
    try:
        payload = json.loads(body) if body.strip() else None
    except ValueError:
        raise ValidationFailed.field("body", "the delivery's body is not JSON") from None
    event = normalize(kind, headers, payload)
    data: dict[str, Any] = {
        "id": delivery,
        "source": source,
        "received_at": iso(now),
        "received_epoch": now,
        "status": "received",
        "event": event,
        "payload": payload,
        "attempts": 0,
    }
    try:
        repo(services).add_delivery(data)
    except AlreadyExists:
        return 200, {"delivery": delivery, "status": "duplicate"}
    enqueue(services, source, delivery)
    return 202, {"delivery": delivery, "status": "received", "event": event["type"]}


def enqueue(services: ServiceContext, source: str, delivery: str) -> None:
    body = {"kind": MESSAGE_KIND, "source": source, "delivery": delivery}
    services.queue.send(services.settings.jobs_queue, json.dumps(body))


def deliveries(services: ServiceContext, source: str, *, limit: int = 50, cursor: str | None = None):
    repo(services).require(source)
    items, next_cursor = repo(services).deliveries(source, limit=limit, cursor=cursor)
    return [{k: v for k, v in d.items() if k != "payload"} for d in items], next_cursor


def replay(services: ServiceContext, source: str, delivery: str, *, actor: str) -> dict[str, Any]:
    """Process a kept delivery again (an admin's redelivery): its rules run once more."""
    r = repo(services)
    for _ in range(10):
        item = r.delivery(source, delivery)
        if item is None:
            raise NotFound(f"webhook source {source!r} has no delivery {delivery!r}")
        data = {**item.data, "status": "received", "replayed_by": actor}
        try:
            r.save_delivery(item, data)
        except VersionConflict:
            continue
        enqueue(services, source, delivery)
        return {k: v for k, v in data.items() if k != "payload"}
    raise VersionConflict(f"delivery {delivery!r} keeps changing; replay it again")
