"""The Alert Engine: rules, their alerts' state, acknowledgements and silences (DESIGN §9).

Evaluation lives in :mod:`pilothouse.services.alert_sweep` (metric, health, backup-age rules,
every minute) and :mod:`pilothouse.services.alert_events` (event rules, as the feed is
dispatched); both move an alert through :func:`transition`, which writes the new state, a history
entry with the values that decided it and, on firing and on resolving, an ``alert.firing`` /
``alert.resolved`` event for the notifications -- in one conditional transaction. A silenced alert
still changes state and keeps its history; it sends no notification until the silence expires.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pilothouse.clock import iso, parse_iso
from pilothouse.domain.alerts import next_state, parse_rule
from pilothouse.errors import Conflict, NotFound, VersionConflict
from pilothouse.ports import Item
from pilothouse.repositories.alerts import AlertRepository
from pilothouse.services.context import ServiceContext

ATTEMPTS = 10


def repo(services: ServiceContext) -> AlertRepository:
    return AlertRepository(services.store)


def create_rule(services: ServiceContext, body: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Create a rule (validated by its kind) and its alert, state OK; 409 if the name is taken."""
    rule = parse_rule(body)
    now = iso(services.clock.time())
    data = rule.model_dump(mode="json")
    record = {"name": rule.name, "rule": data, "created_at": now, "created_by": actor}
    alert = {
        "rule": rule.name,
        "kind": rule.kind,
        "state": "OK",
        "since": now,
        "severity": rule.severity,
        **({"component": data["component"]} if data.get("component") else {}),
    }
    repo(services).create_rule(record, alert)
    return record


def get_rule(services: ServiceContext, name: str) -> dict[str, Any]:
    return repo(services).require_rule(name)


def list_rules(services: ServiceContext) -> list[dict[str, Any]]:
    return sorted(repo(services).rules(), key=lambda r: r["name"])


def delete_rule(services: ServiceContext, name: str) -> None:
    repo(services).delete_rule(name)


def public(item: Item, now: float) -> dict[str, Any]:
    """An alert as answers show it (an expired silence shows as none)."""
    out = dict(item.data)
    if out.get("silenced") and parse_iso(out["silenced"]["until"]) <= now:
        out["silenced"] = None
    return out


def list_alerts(services: ServiceContext, *, state: str | None = None) -> list[dict[str, Any]]:
    now = services.clock.time()
    items = [public(i, now) for i in repo(services).alerts()]
    return sorted((a for a in items if state is None or a["state"] == state), key=lambda a: a["rule"])


def get_alert(services: ServiceContext, name: str, *, history: int = 50) -> dict[str, Any]:
    item = repo(services).require_alert(name)
    entries, _ = repo(services).history(name, limit=history)
    return {**public(item, services.clock.time()), "history": entries}


def change(
    services: ServiceContext,
    name: str,
    mutate: Callable[[dict[str, Any], Item], tuple[dict[str, Any] | None, dict[str, Any] | None] | None],
) -> Item:
    """Apply ``mutate(data, read)`` -> (history, feed) or None (no change) with a conditional
    write, re-reading and re-applying on conflicts."""
    alerts = repo(services)
    for _ in range(ATTEMPTS):
        item = alerts.require_alert(name)
        data = dict(item.data)
        outcome = mutate(data, item)
        if outcome is None:
            return item
        history, feed = outcome
        try:
            return alerts.save(item, data, history, feed)
        except VersionConflict:
            continue
    raise Conflict(f"alert {name!r} is too busy; retry")


def _feed(data: dict[str, Any], new: str, values: dict[str, Any]) -> dict[str, Any]:
    kind = "alert.firing" if new == "FIRING" else "alert.resolved"
    out: dict[str, Any] = {
        "source": "alert",
        "type": kind,
        "summary": f"{data['rule']} is {new} ({data['severity']})",
        "detail": {"rule": data["rule"], "state": new, "severity": data["severity"], "values": values},
    }
    if data.get("component"):
        out["component"] = data["component"]
    return out


def transition(
    services: ServiceContext, name: str, condition: str, values: dict[str, Any], **fields: Any
) -> Item:
    """Record one evaluation: the state :func:`pilothouse.domain.alerts.next_state` gives, with
    history, and the feed event of a firing or resolving (unless silenced). ``fields`` are stored
    on the alert too (``event_seen_at``...)."""
    now = services.clock.time()

    def apply(d: dict[str, Any], read: Item) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        old = d["state"]
        new = next_state(old, condition)  # type: ignore[arg-type]
        d.update(evaluated_at=iso(now), last_values=values, **fields)
        if d.get("silenced") and parse_iso(d["silenced"]["until"]) <= now:
            d["silenced"] = None
        if new == old:
            return None, None
        d.update(state=new, since=iso(now))
        if new == "FIRING":
            d["fired_at"] = iso(now)
        if new in ("RESOLVED", "OK"):
            d["acknowledged"] = None
            if old == "FIRING":
                d["resolved_at"] = iso(now)
        history = {"type": "state", "from": old, "to": new, "values": values}
        notify = (new == "FIRING" or old == "FIRING") and not d.get("silenced")
        return history, (_feed(d, new, values) if notify else None)

    return change(services, name, apply)


def acknowledge(services: ServiceContext, name: str, *, actor: str, comment: str = "") -> dict[str, Any]:
    """Acknowledge a PENDING or FIRING alert (someone is on it); cleared when it resolves."""
    now = iso(services.clock.time())

    def apply(d: dict[str, Any], read: Item) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        if d["state"] not in ("PENDING", "FIRING"):
            raise Conflict(f"alert {name!r} is {d['state']}: only a PENDING or FIRING alert is acknowledged")
        d["acknowledged"] = {"by": actor, "at": now, "comment": comment}
        return {"type": "acknowledged", "actor": actor, "reason": comment or None}, None

    return public(change(services, name, apply), services.clock.time())


def silence(
    services: ServiceContext, name: str, *, minutes: float, reason: str, actor: str
) -> dict[str, Any]:
    """Silence an alert's notifications for ``minutes`` (its state still moves), with a reason."""
    now = services.clock.time()
    until = iso(now + minutes * 60)

    def apply(d: dict[str, Any], read: Item) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        d["silenced"] = {"until": until, "reason": reason, "by": actor, "at": iso(now)}
        return {"type": "silenced", "actor": actor, "reason": reason, "until": until}, None

    return public(change(services, name, apply), now)


def firing(services: ServiceContext, names: list[str]) -> list[str]:
    """Which of the named rules fire now (a rule that does not exist counts as firing: an
    analysis that names it must not pass by mistake), for deployment analyses."""
    out = []
    for name in names:
        item = repo(services).alert(name)
        if item is None:
            out.append(f"{name} (no such rule)")
        elif item.data["state"] == "FIRING":
            out.append(name)
    return out


def require_rule_names(services: ServiceContext, names: list[str]) -> None:
    """NotFound naming the first rule that does not exist."""
    for name in names:
        if repo(services).get_rule(name) is None:
            raise NotFound(f"no alert rule named {name[:100]!r}")
