"""Processing a webhook delivery from the jobs queue: its source's rules, each matching one's action.

The delivery moves ``received`` → ``processing`` by a conditional write first, so a redelivered
queue message (or two workers) runs its rules once; then it ends ``processed`` (every matching
rule's action accepted), ``failed`` (one was refused: its reason is kept) or ``ignored`` (no rule
matched). Actions act as the admin who created the source, with the request id
``webhook:<source>:<delivery>`` in their audit and events; a workflow a rule starts acts as the
source's own principal ``webhook:<source>``, whose role is the source's ``workflow_role`` (none
unless the admin stated one).

* ``update_component`` — update the component to the version taken from the tag or commit;
* ``update_system`` — a system rollout moving the named members to that version;
* ``promote_component`` / ``promote_system`` — a promotion to the next environment;
* ``start_workflow`` — an execution whose input is the payload, or what a JSONPath or JSONata
  expression selects from it (JSONata sees the payload as ``$`` and the event as ``$event``).
"""

from __future__ import annotations

from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.lifecycle import Command
from pilothouse.domain.webhooks import Rule, version_from
from pilothouse.errors import PilothouseError, VersionConflict
from pilothouse.repositories.webhooks import WebhookRepository
from pilothouse.services.context import ServiceContext


class ActionSkipped(Exception):
    """The rule matched but the event carries nothing its action can use (no version...)."""


def handle(services: ServiceContext, message: dict[str, Any]) -> str:
    """Process the delivery a queue message names (at most once per receive or replay)."""
    r = WebhookRepository(services.store)
    source, delivery = str(message.get("source")), str(message.get("delivery"))
    item = r.delivery(source, delivery)
    if item is None or item.data["status"] != "received":
        return "stale"
    data = {**item.data, "status": "processing", "attempts": item.data.get("attempts", 0) + 1}
    try:
        item = r.save_delivery(item, data)
    except VersionConflict:
        return "stale"
    source_item = r.get(source)
    rules = [Rule.model_validate(x) for x in (source_item.data.get("rules") or [])] if source_item else []
    actor = (source_item.data.get("created_by") if source_item else None) or f"webhook:{source}"
    outcomes = []
    for rule in rules:
        if not rule.on.matches(data["event"]):
            continue
        try:
            detail = run(services, rule, data, actor=actor, request_id=f"webhook:{source}:{delivery}")
            outcomes.append({"rule": rule.name, "action": rule.do.type, "outcome": "done", "detail": detail})
        except ActionSkipped as exc:
            outcomes.append(
                {"rule": rule.name, "action": rule.do.type, "outcome": "skipped", "detail": str(exc)}
            )
        except PilothouseError as exc:
            outcomes.append(
                {"rule": rule.name, "action": rule.do.type, "outcome": "refused", "detail": str(exc)}
            )
    status = (
        "ignored"
        if not outcomes
        else ("failed" if any(o["outcome"] == "refused" for o in outcomes) else "processed")
    )
    final = {**data, "status": status, "outcomes": outcomes, "processed_at": iso(services.clock.time())}
    r.save_delivery(item, final)
    return status


def _version(rule: Rule, event: dict[str, Any]) -> str:
    source = getattr(rule.do, "version_from", "tag")
    version = version_from(event, source)
    if version is None:
        raise ActionSkipped(f"the event has no {source} that is a version")
    return version


def run(
    services: ServiceContext, rule: Rule, delivery: dict[str, Any], *, actor: str, request_id: str
) -> str:
    """Carry out one rule's action; a short description of what it started."""
    do, event = rule.do, delivery["event"]
    if do.type == "update_component":
        from pilothouse.services import components

        version = _version(rule, event)
        params: dict[str, Any] = {"version": version}
        if do.strategy is not None:
            params["strategy"] = do.strategy
        record = components.get(services, do.component)
        if record.data["state"] == "Running" and record.data.get("version") == version:
            return f"{do.component} runs {version} already"
        cmd = Command.DEPLOY if record.data["state"] == "Registered" else Command.UPDATE
        components.command(services, do.component, cmd, params, actor=actor, request_id=request_id)
        return f"{cmd.value} {do.component} to {version}"
    if do.type == "update_system":
        from pilothouse.services import systems

        version = _version(rule, event)
        view = systems.start_rollout(
            services, do.system, "update", actor=actor, versions=dict.fromkeys(do.components, version)
        )
        return f"system {do.system} rollout {view['rollout']['id']} to {version}"
    if do.type == "promote_system":
        from pilothouse.services import systems

        view = systems.promote(services, do.system, do.to, actor=actor)
        return f"system {do.system} promoted to {do.to}: rollout {view['rollout']['id']}"
    if do.type == "promote_component":
        from pilothouse.services.promotions import start_promotion

        started = start_promotion(services, source=do.source, target=do.target, strategy=None, actor=actor)
        return f"promotion {do.source} → {do.target}: {started.get('name')}"
    return _start_workflow(services, rule, delivery, actor=actor, request_id=request_id)


def _start_workflow(
    services: ServiceContext, rule: Rule, delivery: dict[str, Any], *, actor: str, request_id: str
) -> str:
    from pilothouse.errors import ValidationFailed

    do = rule.do
    assert do.type == "start_workflow"
    payload = delivery.get("payload")
    try:
        if do.jsonpath is not None:
            from pilothouse.engine.jsonpath import evaluate

            value = evaluate(do.jsonpath, payload)
        elif do.jsonata is not None:
            from pilothouse.engine.jsonata_bridge import evaluate as jsonata

            value = jsonata(do.jsonata, {"input": payload}, {"event": delivery["event"]}, "jsonata")
        else:
            value = payload
    except Exception as exc:  # the mapping found nothing in this payload
        raise ValidationFailed.field(
            "jsonpath" if do.jsonpath else "jsonata", f"the mapping failed: {exc}"
        ) from None
    import re

    raw = f"webhook-{delivery['source']}-{rule.name}-{delivery['id']}-{delivery.get('attempts', 1)}"
    name = re.sub(r"[^A-Za-z0-9_-]", "-", raw)[-80:]
    # the execution acts as the source's own principal (its stated workflow_role), never its creator
    started = services.orchestrator.start(
        do.workflow, name=name, input=value, actor=f"webhook:{delivery['source']}", request_id=request_id
    )
    return f"execution {started.get('name', name)} of {do.workflow}"
