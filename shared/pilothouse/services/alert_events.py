"""Alert rules that watch the event feed: ``event`` rules fire on a matching event and resolve on a
``resolve_on`` event (or after ``resolve_after_minutes``, in the sweep); ``backup_age`` rules
learn the newest backup's time from ``backup.*`` events (the sweep compares it with the RPO)."""

from __future__ import annotations

from typing import Any

from pilothouse.clock import parse_iso
from pilothouse.domain.notifications import matches
from pilothouse.errors import NotFound
from pilothouse.services import alerts
from pilothouse.services.context import ServiceContext


def _in_scope(rule: dict[str, Any], event: dict[str, Any]) -> bool:
    if rule.get("component") and event.get("component") != rule["component"]:
        return False
    return not (rule.get("environment") and event.get("environment") != rule["environment"])


def on_event(
    services: ServiceContext, event: dict[str, Any], rules: list[dict[str, Any]] | None = None
) -> int:
    """Apply one feed event to the rules that watch events; how many alerts it touched."""
    if event.get("source") == "alert":
        return 0  # an alert's own firing never drives another rule (no loops between rules)
    touched = 0
    for record in rules if rules is not None else alerts.repo(services).rules():
        rule = record["rule"]
        try:
            touched += _apply(services, rule, event)
        except NotFound:  # deleted since the rules were read
            continue
    return touched


def _apply(services: ServiceContext, rule: dict[str, Any], event: dict[str, Any]) -> int:
    kind, etype = rule["kind"], event["type"]
    if kind == "backup_age" and any(matches(p, etype) for p in rule["events"]):
        newest = event["at"]

        def learn(d: dict[str, Any], read: Any) -> Any:
            if d.get("newest_backup_at") and parse_iso(d["newest_backup_at"]) >= parse_iso(newest):
                return None
            d["newest_backup_at"] = newest
            return {"type": "backup.seen", "values": {"event": event["id"], "at": newest}}, None

        alerts.change(services, rule["name"], learn)
        return 1
    if kind != "event" or not _in_scope(rule, event):
        return 0
    values = {
        "event": event["id"],
        "type": etype,
        "component": event.get("component"),
        "deployment": event.get("deployment"),
        "summary": event.get("summary"),
    }
    if any(matches(p, etype) for p in rule["events"]):
        alerts.transition(services, rule["name"], "breaching", values, event_seen_at=event["at"])
        return 1
    if any(matches(p, etype) for p in rule.get("resolve_on") or []):
        item = alerts.repo(services).alert(rule["name"])
        if item is not None and item.data["state"] == "FIRING":
            alerts.transition(services, rule["name"], "ok", values)
            return 1
    return 0
