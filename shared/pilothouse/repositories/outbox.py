"""The event feed's outbox: every component, deployment and alert event, for the dispatcher.

=====================  ============================================  ===========================
partition (pk)         sort key (sk)                                 what
=====================  ============================================  ===========================
``OUTBOX#<shard>``     ``<epoch ms, 15 digits>#<hex>``               one event not dispatched yet
=====================  ============================================  ===========================

Why an outbox and not a queue message after commit: the item is written in the *same transaction*
as the change it reports (the component's record and event, the deployment's...), so a crash can
lose neither the change without its event nor the event without its change; a message sent after
commit is lost when the process dies between the two. The dispatcher reads the shards, hands each
event on, then deletes it; a crash before the delete dispatches it again, which is harmless: the
event's id is stable and every delivery is keyed by it (``pilothouse.services.event_feed``).

The items are spread over :data:`SHARDS` partitions by subject (a component's events stay in one
shard, in time order) so that no single partition takes every write of the fleet.
"""

from __future__ import annotations

import contextlib
import secrets
import zlib
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.records import stored
from pilothouse.errors import VersionConflict
from pilothouse.ports import Delete, Item, Put, Store

PREFIX = "OUTBOX#"
SHARDS = 16


def shard_pk(shard: int) -> str:
    return f"{PREFIX}{shard:02d}"


def shard_of(subject: str) -> int:
    """The shard of a subject (a component's or deployment's name): stable across processes."""
    return zlib.crc32(subject.encode()) % SHARDS


def outbox_put(store: Store, event: dict[str, Any], *, subject: str) -> Put:
    """The write that queues ``event`` (``source``, ``type`` and the optional ``component``,
    ``environment``, ``deployment``, ``summary``, ``detail``) for the dispatcher; put it in the
    transaction of the change it reports. Its ``id`` is stable: the dispatcher's deliveries key on it."""
    now = store.clock.time()
    shard = shard_of(subject)
    sk = f"{int(now * 1000):015d}#{secrets.token_hex(4)}"
    data = stored("OutboxRecord", {"id": f"evt_{shard:02d}{sk.replace('#', '')}", "at": iso(now), **event})
    return Put(Item(shard_pk(shard), sk, data), if_absent=True)


class OutboxRepository:
    """Reads and clears the outbox shards."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def pending(self, shard: int, *, limit: int = 200) -> list[Item]:
        """The oldest undispatched events of ``shard``, oldest first."""
        return self.store.query(shard_pk(shard), limit=limit).items

    def done(self, item: Item) -> None:
        """Drop a dispatched event (if it is still the one read; a racing dispatcher that dropped
        it first is fine: it dispatched the same event to the same delivery ids)."""
        with contextlib.suppress(VersionConflict):
            self.store.transact([Delete(item.pk, item.sk, if_version=item.version)])

    def publish(self, event: dict[str, Any], *, subject: str) -> dict[str, Any]:
        """Queue an event that goes with no other write (a test delivery, an event of a service
        with no record of its own, such as ``backup.*``)."""
        put = outbox_put(self.store, event, subject=subject)
        self.store.transact([put])
        return put.item.data


#: the deployment statuses that end one; their event reaches the feed as ``deployment.<status>``
FINAL_STATUSES = frozenset({"succeeded", "rolled_back", "failed", "aborted"})
_OWN_PREFIXES = ("component.", "replica.", "backup.", "alert.")


def component_feed(name: str, environment: str | None, event: dict[str, Any]) -> dict[str, Any]:
    """A component event as the feed carries it: type ``component.<type>`` (types that already
    name their family, such as ``component.health`` or ``replica.replaced``, stay as they are)."""
    kind = str(event["type"])
    feed_type = kind if kind.startswith(_OWN_PREFIXES) else f"component.{kind}"
    moved = (
        f"{event.get('from') or '—'} → {event['to']}"
        if event.get("to") and event.get("from") != event["to"]
        else ""
    )
    summary = "; ".join(str(s) for s in (moved, event.get("reason")) if s)
    detail = {
        k: event[k]
        for k in (
            "from",
            "to",
            "actor",
            "version",
            "replicas",
            "deployment_id",
            "reason",
            "replica",
            "replacement",
            "healthy_replicas",
            "total_replicas",
        )
        if event.get(k) is not None
    }
    out: dict[str, Any] = {"source": "component", "type": feed_type, "component": name, "detail": detail}
    if environment:
        out["environment"] = environment
    if summary:
        out["summary"] = summary[:500]
    return out


def deployment_feed(record: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """A deployment event as the feed carries it: ``deployment.<status>`` when it ends the
    deployment, ``approval.requested`` when it starts waiting for an approval, else
    ``deployment.<type>``."""
    kind = str(event["type"])
    if event.get("status") in FINAL_STATUSES:
        feed_type = f"deployment.{event['status']}"
    elif kind == "approval.waiting":
        feed_type = "approval.requested"
    elif kind.startswith("approval."):
        feed_type = kind
    else:
        feed_type = f"deployment.{kind}"
    summary = f"{record.get('from_version')} → {record.get('to_version')} ({record.get('status')})"
    if record.get("error") and event.get("status") in FINAL_STATUSES:
        summary += f": {str(record['error'])[:300]}"
    detail = {
        "status": record.get("status"),
        "from_version": record.get("from_version"),
        "to_version": record.get("to_version"),
        **({"step": event["step"]} if event.get("step") is not None else {}),
        **({"actor": event["actor"]} if event.get("actor") else {}),
    }
    return {
        "source": "deployment",
        "type": feed_type,
        "component": record["component"],
        "environment": record["environment"],
        "deployment": record["id"],
        "summary": summary,
        "detail": detail,
    }
