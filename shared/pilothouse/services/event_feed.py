"""The event feed's dispatcher: outbox → notification deliveries and event-driven alert rules.

Every component, deployment and alert event is written to the outbox in the transaction of its
change (:mod:`pilothouse.repositories.outbox`, which says why an outbox and where the entries
live). :func:`dispatch` (the ``dispatch_events`` schedule, and the alert sweep after each
evaluation) reads every shard, oldest first: the events that go with no record, then each
partition marked dirty, whose derived records it first brings in step (:data:`RECONCILERS`: the
component listing and in-flight index, which a crash between a commit and its reconcile left
behind) and whose entries it then dispatches. For each event it records a delivery to every
channel whose subscriptions want it and queues its first attempt, tells the alert rules that
watch events, then deletes the outbox entry.
A crash anywhere re-dispatches the event on the next run, which finds what it did the first time:
delivery ids and alert transitions are keyed by the event's id.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from pilothouse.clock import parse_iso
from pilothouse.domain.notifications import wants
from pilothouse.ports import Item
from pilothouse.repositories.alerts import AlertRepository
from pilothouse.repositories.notifications import ChannelRepository
from pilothouse.repositories.outbox import SHARDS, OutboxRepository
from pilothouse.services.context import ServiceContext

log = logging.getLogger(__name__)
#: events dispatched per shard per run at most (the rest wait for the next run)
PER_SHARD = 500


def publish(services: ServiceContext, event: dict[str, Any], *, subject: str) -> dict[str, Any]:
    """Put an event on the feed that goes with no record of ours (``backup.succeeded`` from a
    backup run, ...): ``type``, ``source`` and the optional ``component``, ``environment``,
    ``summary``, ``detail``."""
    return OutboxRepository(services.store).publish(event, subject=subject)


def dispatch_event(
    services: ServiceContext,
    event: dict[str, Any],
    channels: list[dict[str, Any]],
    rules: list[dict[str, Any]] | None = None,
) -> int:
    """Hand one event on (to ``channels`` and the alert ``rules``, all of them when None); how
    many deliveries it made (or found made)."""
    from pilothouse.services.alert_events import on_event
    from pilothouse.services.notification_delivery import enqueue

    sent = 0
    at_epoch = parse_iso(event["at"])
    for channel in channels:
        if wants(channel["subscriptions"], event):
            enqueue(services, channel, event, at_epoch=at_epoch)
            sent += 1
    on_event(services, event, rules)
    return sent


def _reconcile_component(services: ServiceContext, partition: str) -> None:
    from pilothouse.repositories.components import ComponentRepository

    ComponentRepository(services.store).reconcile(partition.split("#", 1)[1])


def _reconcile_deployment(services: ServiceContext, partition: str) -> None:
    from pilothouse.repositories.deployments import DeploymentRepository

    DeploymentRepository(services.store).reconcile(partition.split("#", 1)[1])


#: partition prefix -> what brings the derived records of a marked partition in step
RECONCILERS: dict[str, Callable[[ServiceContext, str], None]] = {
    "COMPONENT#": _reconcile_component,
    "DEPLOYMENT#": _reconcile_deployment,
}


def _drain(
    services: ServiceContext,
    items_of: Callable[[int], list[Item]],
    budget: int,
    handle: Callable[[Item], int],
) -> tuple[int, int, bool]:
    """Dispatch the items ``items_of(limit)`` gives, oldest first, until none is left or
    ``budget`` is spent; stop at the first that fails (keeping the order). (events, deliveries,
    whether it stopped on a failure)."""
    outbox = OutboxRepository(services.store)
    events = deliveries = done = 0
    while done < budget:
        items = items_of(min(100, budget - done))
        if not items:
            break
        for item in items:
            try:
                deliveries += handle(item)
            except Exception:  # one bad event must not hold up the shard forever: logged, kept
                log.exception("dispatching event %s failed; it stays in the outbox", item.data.get("id"))
                return events, deliveries, True  # keep the order: the rest waits for the next run
            outbox.done(item)
            events += 1
        done += len(items)
    return events, deliveries, False


def dispatch(services: ServiceContext, *, per_shard: int = PER_SHARD) -> dict[str, int]:
    """Drain the outbox: every shard, oldest event first. Counts of events and deliveries."""
    outbox = OutboxRepository(services.store)
    channels = ChannelRepository(services.store).all()
    rules = AlertRepository(services.store).rules()

    def handle(item: Item) -> int:
        return dispatch_event(services, item.data, channels, rules)

    counts = {"events": 0, "deliveries": 0, "failed": 0}

    def drain(items_of: Callable[[int], list[Item]], budget: int) -> tuple[int, bool]:
        sent, made, stuck = _drain(services, items_of, budget, handle)
        counts["events"] += sent
        counts["deliveries"] += made
        counts["failed"] += int(stuck)
        return sent, stuck

    for shard in range(SHARDS):
        sent, _ = drain(functools.partial(_pending, outbox, shard), per_shard)
        budget = per_shard - sent
        for marker in outbox.dirty(shard):
            if budget <= 0:
                break
            partition = marker.sk
            for prefix, reconcile in RECONCILERS.items():
                if partition.startswith(prefix):
                    reconcile(services, partition)
            sent, stuck = drain(functools.partial(_entries, outbox, partition), budget)
            budget -= sent
            if not stuck and not outbox.entries(partition, limit=1):
                outbox.clean(marker)
    return counts


def _pending(outbox: OutboxRepository, shard: int, limit: int) -> list[Item]:
    return outbox.pending(shard, limit=limit)


def _entries(outbox: OutboxRepository, partition: str, limit: int) -> list[Item]:
    return outbox.entries(partition, limit=limit)
