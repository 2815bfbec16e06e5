"""Store layout migrations: versioned, idempotent and resumable.

The layout version of a store is the item ``SCHEMA`` / ``layout`` (``data["version"]``); a store
without it is at version 1 (or empty). :func:`migrate` brings a store to :data:`LAYOUT_VERSION`
and writes the version last, so a migration killed half-way is simply run again: each step copies
only what is not at its new place yet and deletes an old item only once its copy is there.

Version 2 (issue 15) keeps every transaction inside one partition (``Store.transaction_scope``):

- the audit chain's day heads move from ``AUDIT-HEAD`` into their days' partitions, and the days
  are listed in ``AUDIT-DAYS`` (:meth:`AuditRepository.migrate_heads`);
- a component's record moves from ``COMPONENT/<name>`` to ``COMPONENT#<name>/RECORD`` and its events
  from ``EVENTS#<name>`` to ``COMPONENT#<name>/EVENT#...``; ``COMPONENT/<name>`` becomes its listing
  entry;
- a deployment's record moves from ``DEPLOYMENT/<id>`` to ``DEPLOYMENT#<id>/RECORD``, its events
  from ``DEPLOYEVENTS#<id>`` to ``DEPLOYMENT#<id>/EVENT#...``; ``DEPLOYMENT/<id>`` becomes its
  listing entry;
- alert rules (``ALERT_RULE``), alerts (``ALERT/<rule>``) and their history
  (``ALERT_HISTORY#<rule>``) move into the one ``ALERT`` partition (``R#``, ``A#``, ``H#`` keys);
- policies (``POLICY/<name>``), their versions (``POLICY-VERSION``) and generation
  (``POLICY-SET``) move into the one ``POLICY`` partition (``P#``, ``V#``, ``#generation``);
- an execution's record moves from ``EXEC#<workflow>/<name>`` to
  ``EXECUTION#<workflow>#<name>/RECORD``, its history from ``EXECHIST#<workflow>#<name>`` to
  ``HIST#...`` beside it; ``EXEC#<workflow>/<name>`` becomes its listing entry.

Version 3 (issue 15, the rest) moves what still wrote across partitions into one partition each:

- webhook sources (``WEBHOOKSOURCE``) and their secrets (``WEBHOOKSECRET``) into ``WEBHOOK``
  (``S#``, ``K#``); a source's deliveries (``WEBHOOKDELIVERY#<source>``) and their log
  (``WEBHOOKLOG#<source>``) into ``WEBHOOK#<source>`` (``D#``, ``L#``);
- systems (``SYSTEM``) and their rollouts (``SYSROLLOUT#<system>``) into ``SYSTEMS`` (``S#``,
  ``R#<system>#``);
- config heads (``CONFIG``), versions (``CONFIGV#<scope>``) and pending markers
  (``CONFIG_PENDING``) into ``CONFIGS`` (``H#``, ``V#<scope>#``, ``P#``).

Version 4 (issue 11) keeps a series' minute rollups as one item per hour: the minute items
(``METRIC_MIN#<series>#<day>`` / ``HH:MM``) are folded into their hour's block (``H#HH``, marked
``moved`` so that a rerun never counts them twice) and deleted
(:func:`pilothouse.repositories.metrics.migrate_minutes`).

Version 5 (the histogram's bucket spelling) respells the histograms of the minute blocks and hour
rollups written under version 4, where a positive value below 1 shared its key and code with a
negative value (:func:`pilothouse.repositories.metrics.migrate_buckets`, each item marked
``buckets: 5`` in the same conditional write, so never twice; the ambiguous buckets are decided by
the item's min/max, :mod:`pilothouse.domain.metric_legacy`). Readers and writers of this release
read an unmarked item in today's spelling already, so the store answers right before it is done.

A store at version 1 gets every step in one run (each step finds nothing of the others to move).

Outbox entries of the older layout (``OUTBOX#<shard>``) stay where they are: the dispatcher still
drains those partitions. Records keep their versions (copied with ``Store.load``), so a reader
that read one before the migration conflicts, as it should, only if it changed since.

Run it with ``pilothouse migrate`` (any store the settings name, DynamoDB included, from a machine
that can reach it), or let ``pilothouse dev`` run it at start; a deployment upgrades its table
with the same command (or its one-shot invocation of :func:`migrate`) before the new functions
take traffic.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pilothouse.errors import AlreadyExists, VersionConflict
from pilothouse.ports import Delete, Item, Store
from pilothouse.repositories.derived import is_tombstone

log = logging.getLogger(__name__)

SCHEMA_PK = "SCHEMA"
LAYOUT_SK = "layout"
#: the layout this release reads and writes
LAYOUT_VERSION = 5
#: deletes of one partition per transaction
BATCH = 25


def layout_version(store: Store) -> int:
    """The store's layout version (1 when never written)."""
    item = store.get(SCHEMA_PK, LAYOUT_SK)
    return int(item.data["version"]) if item else 1


def _copy_partition(store: Store, old_pk: str, new_pk: str, prefix: str) -> int:
    """Copy every item of ``old_pk`` to ``new_pk`` under ``prefix + sk`` (versions kept; an item
    already there wins), then delete the old items, 25 to a transaction of ``old_pk``."""
    moved = 0
    old = store.scan_all(old_pk)
    for item in old:
        if store.get(new_pk, prefix + item.sk) is None:
            store.load([replace(item, pk=new_pk, sk=prefix + item.sk)])
            moved += 1
    for start in range(0, len(old), BATCH):
        store.transact([Delete(i.pk, i.sk) for i in old[start : start + BATCH]])
    return moved


def _move_record(
    store: Store, legacy: Item, new_pk: str, sync: Callable[[], None], *, is_legacy: Callable[[Item], bool]
) -> bool:
    """Move one record of the older layout to ``new_pk``/``RECORD`` (unless a record is there
    already: then the newer one wins), then let ``sync`` turn its old place into its listing
    entry. Whether it moved it."""
    if not is_legacy(legacy):
        return False
    moved = False
    if store.get(new_pk, "RECORD") is None:
        store.load([replace(legacy, pk=new_pk, sk="RECORD")])
        moved = True
    sync()
    return moved


def _components(store: Store, legacy_events: set[str]) -> dict[str, int]:
    from pilothouse.repositories.components import (
        EVENT_PREFIX,
        PK,
        ComponentRepository,
        component_pk,
        legacy_events_pk,
    )

    repo = ComponentRepository(store)
    counts = {"components": 0, "component_events": 0}
    for item in store.scan_all(PK):
        name = item.sk
        counts["components"] += _move_record(
            store,
            item,
            component_pk(name),
            lambda n=name: repo.reconcile(n),  # type: ignore[misc]
            is_legacy=lambda i: "record_version" not in i.data and not is_tombstone(i),
        )
    for pk in sorted(legacy_events):
        name = pk.split("#", 1)[1]
        counts["component_events"] += _copy_partition(
            store, legacy_events_pk(name), component_pk(name), EVENT_PREFIX
        )
    return counts


def _deployments(store: Store, legacy_events: set[str]) -> dict[str, int]:
    from pilothouse.repositories.deployments import (
        EVENT_PREFIX,
        PK,
        DeploymentRepository,
        deployment_pk,
        legacy_events_pk,
    )

    repo = DeploymentRepository(store)
    counts = {"deployments": 0, "deployment_events": 0}
    for item in store.scan_all(PK):
        counts["deployments"] += _move_record(
            store,
            item,
            deployment_pk(item.sk),
            lambda d=item.sk: repo.reconcile(d),  # type: ignore[misc]
            is_legacy=lambda i: "record_version" not in i.data and not is_tombstone(i),
        )
    for pk in sorted(legacy_events):
        deployment_id = pk.split("#", 1)[1]
        counts["deployment_events"] += _copy_partition(
            store, legacy_events_pk(deployment_id), deployment_pk(deployment_id), EVENT_PREFIX
        )
    return counts


def _executions(store: Store, listings: set[str], histories: set[str]) -> dict[str, int]:
    from pilothouse.repositories.workflows import HISTORY_PREFIX, execution_pk, sync_listing

    counts = {"executions": 0, "execution_history": 0}
    for pk in sorted(listings):
        workflow = pk.split("#", 1)[1]
        for item in store.scan_all(pk):
            counts["executions"] += _move_record(
                store,
                item,
                execution_pk(workflow, item.sk),
                lambda w=workflow, n=item.sk: sync_listing(store, w, n),  # type: ignore[misc]
                is_legacy=lambda i: "state" in i.data,  # a listing entry is a summary, without state
            )
    for pk in sorted(histories):
        # EXECHIST#<workflow>#<name>: the execution names its partition (workflow names hold no #)
        workflow, name = pk.split("#", 2)[1:]
        counts["execution_history"] += _copy_partition(
            store, pk, execution_pk(workflow, name), HISTORY_PREFIX
        )
    return counts


def _legacy_partitions(store: Store) -> dict[str, set[str]]:
    """The partitions of the older layout with something to move (one pass over the store)."""
    found: dict[str, set[str]] = {
        "EVENTS#": set(),
        "DEPLOYEVENTS#": set(),
        "EXECHIST#": set(),
        "EXEC#": set(),
        "ALERT_HISTORY#": set(),
        "WEBHOOKDELIVERY#": set(),
        "WEBHOOKLOG#": set(),
        "SYSROLLOUT#": set(),
        "CONFIGV#": set(),
        "METRIC_MIN#": set(),
        "METRIC_HOUR#": set(),
        "METRIC_BLOCKS": set(),
    }
    scan = store.scan(page_size=1000)
    try:
        for item in scan:
            for prefix, seen in found.items():
                if item.pk.startswith(prefix) and not (prefix == "METRIC_MIN#" and item.sk.startswith("H#")):
                    seen.add(item.pk)
            if item.pk.startswith("METRIC_MIN#") and item.sk.startswith("H#"):
                found["METRIC_BLOCKS"].add(item.pk)
    finally:
        close = getattr(scan, "close", None)
        if close:
            close()
    return found


def _version_3(store: Store, legacy: dict[str, set[str]]) -> dict[str, int]:
    """Webhooks, systems and config into one partition each (see the module's docstring)."""
    from pilothouse.repositories import config, systems, webhooks

    return {
        "webhook_items": webhooks.migrate_legacy(store, legacy["WEBHOOKDELIVERY#"] | legacy["WEBHOOKLOG#"]),
        "system_items": systems.migrate_legacy(store, legacy["SYSROLLOUT#"]),
        "config_items": config.migrate_legacy(store, legacy["CONFIGV#"]),
    }


def migrate(store: Store) -> dict[str, Any]:
    """Bring ``store`` to :data:`LAYOUT_VERSION` (nothing to do when it is there). Safe to run
    again after a crash, and from two processes at once. What it did: ``from``, ``to`` and counts
    of what it moved."""
    from pilothouse.repositories.audit import AuditRepository

    start = layout_version(store)
    if start >= LAYOUT_VERSION:
        return {"from": start, "to": start, "moved": {}}
    legacy = _legacy_partitions(store)
    moved: dict[str, int] = {"audit_heads": AuditRepository(store).migrate_heads()}
    moved.update(_components(store, legacy["EVENTS#"]))
    moved.update(_deployments(store, legacy["DEPLOYEVENTS#"]))
    moved.update(_executions(store, legacy["EXEC#"], legacy["EXECHIST#"]))
    from pilothouse.repositories.alerts import migrate_legacy as migrate_alerts

    moved["alert_items"] = migrate_alerts(store, legacy["ALERT_HISTORY#"])
    from pilothouse.repositories.policies import migrate_legacy as migrate_policies

    moved["policy_items"] = migrate_policies(store)
    moved.update(_version_3(store, legacy))
    from pilothouse.repositories.metrics import migrate_minutes

    moved["metric_minutes"] = migrate_minutes(store, legacy["METRIC_MIN#"])
    from pilothouse.repositories.metrics import migrate_buckets

    moved["metric_buckets"] = migrate_buckets(store, legacy["METRIC_BLOCKS"] | legacy["METRIC_HOUR#"])
    current = store.get(SCHEMA_PK, LAYOUT_SK)
    with contextlib.suppress(AlreadyExists, VersionConflict):  # another migrator wrote it: same
        store.put(
            Item(SCHEMA_PK, LAYOUT_SK, {"version": LAYOUT_VERSION}),
            if_absent=current is None,
            if_version=current.version if current else None,
        )
    log.info("store layout migrated from version %s to %s: %s", start, LAYOUT_VERSION, moved)
    return {"from": start, "to": LAYOUT_VERSION, "moved": moved}


def ensure_current(store: Store) -> dict[str, Any] | None:
    """Migrate a store of an older layout; None when it is current (one read). An empty store
    is stamped with the current version at once."""
    if layout_version(store) >= LAYOUT_VERSION:
        return None
    return migrate(store)
