"""The event feed's outbox: every component, deployment and alert event, for the dispatcher.

=======================  =======================================  ===================================
partition (pk)           sort key (sk)                            what
=======================  =======================================  ===================================
*the change's own*       ``OUTBOX#<epoch ms, 15 digits>#<hex>``   one event not dispatched yet, beside
                                                                  the record it reports
``OUTBOX-DIRTY#<shard>`` ``<the change's partition>``             that partition may hold entries
                                                                  (the dispatch index), ``at``
``OUTBOX#<shard>``       ``<epoch ms, 15 digits>#<hex>``          an event that goes with no record
                                                                  (:meth:`OutboxRepository.publish`)
=======================  =======================================  ===================================

Why an outbox and not a queue message after commit: the entry is written in the *same transaction*
as the change it reports (the component's record and event, the deployment's...), so a crash can
lose neither the change without its event nor the event without its change; a message sent after
commit is lost when the process dies between the two. The entry lives in the changed record's own
partition, so that transaction stays inside one partition (which every store commits, Azure Tables
included; see ``Store.transaction_scope``).

How the dispatcher finds them: before the transaction, the writer marks its partition dirty
(:func:`mark_dirty`: one unconditional put in ``OUTBOX-DIRTY#<shard>``, which bumps the marker's
version and ``at``). Written first, the marker cannot be lost to a crash after the commit, so no
sweep has to look for entries nobody points at; a marker whose transaction then failed points at
nothing and goes away. The dispatcher reads a shard's markers, hands each entry of the marked
partition on (oldest first) and deletes it, and deletes a marker once its partition has no entries
left *and* the marker is older than :data:`MARK_GRACE` (the longest a function runs, so its writer
has committed or given up), on the condition that nobody marked it again since it was read. A crash
before an entry's delete dispatches it again, which is harmless: the event's id is stable and every
delivery is keyed by it (``pilothouse.services.event_feed``).

The markers are spread over :data:`SHARDS` partitions by subject (a component's name) so that no
single partition takes every write of the fleet.
"""

from __future__ import annotations

import contextlib
import secrets
import zlib
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.records import checked, stored
from pilothouse.errors import VersionConflict
from pilothouse.ports import Delete, Item, Put, Store

PREFIX = "OUTBOX#"
DIRTY_PREFIX = "OUTBOX-DIRTY#"
#: the sort-key prefix of an entry inside the partition of the change it reports
ENTRY_PREFIX = "OUTBOX#"
SHARDS = 16
#: a drained marker younger than this stays (its writer may not have committed yet): Lambda's
#: longest run, 15 minutes
MARK_GRACE = 900.0


def shard_pk(shard: int) -> str:
    return f"{PREFIX}{shard:02d}"


def shard_of(subject: str) -> int:
    """The shard of a subject (a component's or deployment's name): stable across processes."""
    return zlib.crc32(subject.encode()) % SHARDS


def dirty_pk(shard: int) -> str:
    return f"{DIRTY_PREFIX}{shard:02d}"


def outbox_put(
    store: Store,
    event: dict[str, Any],
    *,
    subject: str,
    partition: str | None = None,
    plain: bool = False,
    stamp: tuple[float, str] | None = None,
) -> Put:
    """The write that queues ``event`` (``source``, ``type`` and the optional ``component``,
    ``environment``, ``deployment``, ``summary``, ``detail``) for the dispatcher; put it in the
    transaction of the change it reports, whose partition is ``partition`` (call
    :func:`mark_dirty` for it before that transaction). None: the shard's own partition, for an
    event that goes with no other write. Its ``id`` is stable: the dispatcher's deliveries key on it.
    ``plain``: the event holds plain JSON values only, so the model's check suffices
    (:func:`~pilothouse.domain.records.checked`: the entry is the same document). ``stamp``: the
    time of the change it reports and its ISO spelling, when its writer has them (now otherwise)."""
    if stamp is None:
        now = store.clock.time()
        at = iso(now)
    else:
        now, at = stamp
    shard = shard_of(subject)
    sk = f"{int(now * 1000):015d}#{secrets.token_hex(4)}"
    entry = {"id": f"evt_{shard:02d}{sk.replace('#', '')}", "at": at, **event}
    data = (checked if plain else stored)("OutboxRecord", entry)
    if partition is None:
        return Put(Item(shard_pk(shard), sk, data), if_absent=True)
    return Put(Item(partition, ENTRY_PREFIX + sk, data), if_absent=True)


def dirty_put(store: Store, partition: str, *, subject: str) -> Put:
    """The (unconditional) write of ``partition``'s dirty marker: by itself before the transaction
    of the change (:func:`mark_dirty`), or inside it where the store's transactions span
    partitions (``Store.transaction_scope`` ``"store"``)."""
    now = store.clock.time()
    return Put(Item(dirty_pk(shard_of(subject)), partition, {"partition": partition, "at": now}))


def mark_dirty(store: Store, partition: str, *, subject: str) -> None:
    """Tell the dispatcher that ``partition`` may hold outbox entries (and derived records to
    check); call it *before* the transaction that writes them (see the module's docstring)."""
    store.transact([dirty_put(store, partition, subject=subject)])


class OutboxRepository:
    """Reads and clears the outbox shards."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def pending(self, shard: int, *, limit: int = 200) -> list[Item]:
        """The oldest undispatched events of ``shard`` that go with no record, oldest first."""
        return self.store.query(shard_pk(shard), limit=limit).items

    def dirty(self, shard: int, *, limit: int = 200) -> list[Item]:
        """The partitions of ``shard`` marked dirty (``sk``: the partition; ``data["at"]``)."""
        return self.store.query(dirty_pk(shard), limit=limit).items

    def entries(self, partition: str, *, limit: int = 200) -> list[Item]:
        """The undispatched events of a marked partition, oldest first."""
        return self.store.query(partition, ENTRY_PREFIX, limit=limit).items

    def undispatched(self) -> list[Item]:
        """Every event not dispatched yet (shards first, then each marked partition; oldest first
        within each), for tools and tests: the dispatcher reads them page by page instead."""
        out: list[Item] = []
        for shard in range(SHARDS):
            out += self.store.scan_all(shard_pk(shard))
        for shard in range(SHARDS):
            for marker in self.store.scan_all(dirty_pk(shard)):
                out += self.store.scan_all(marker.sk, ENTRY_PREFIX)
        return out

    def clean(self, marker: Item) -> bool:
        """Drop a marker whose partition was found drained, if it is older than
        :data:`MARK_GRACE` and nobody marked the partition again since it was read."""
        if self.store.clock.time() - float(marker.data.get("at", 0.0)) < MARK_GRACE:
            return False
        try:
            self.store.transact([Delete(marker.pk, marker.sk, if_version=marker.version)])
        except VersionConflict:
            return False
        return True

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
#: the fields of a component event its feed entry's ``detail`` carries (those set), in this order
_DETAIL = (
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
    detail = {k: value for k in _DETAIL if (value := event.get(k)) is not None}
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
