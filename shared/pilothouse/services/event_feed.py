"""The event feed's dispatcher: outbox → notification deliveries and event-driven alert rules.

Every component, deployment and alert event is written to the outbox in the transaction of its
change (:mod:`pilothouse.repositories.outbox`, which says why an outbox). :func:`dispatch` (the
``dispatch_events`` schedule, and the alert sweep after each evaluation) reads every shard, oldest
first, and for each event: records a delivery to every channel whose subscriptions want it and
queues its first attempt, tells the alert rules that watch events, then deletes the outbox entry.
A crash anywhere re-dispatches the event on the next run, which finds what it did the first time:
delivery ids and alert transitions are keyed by the event's id.
"""

from __future__ import annotations

import logging
from typing import Any

from pilothouse.clock import parse_iso
from pilothouse.domain.notifications import wants
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


def dispatch(services: ServiceContext, *, per_shard: int = PER_SHARD) -> dict[str, int]:
    """Drain the outbox: every shard, oldest event first. Counts of events and deliveries."""
    outbox = OutboxRepository(services.store)
    channels = ChannelRepository(services.store).all()
    rules = AlertRepository(services.store).rules()
    events = deliveries = failed = 0
    for shard in range(SHARDS):
        done, stuck = 0, False
        while done < per_shard and not stuck:
            items = outbox.pending(shard, limit=min(100, per_shard - done))
            if not items:
                break
            for item in items:
                try:
                    deliveries += dispatch_event(services, item.data, channels, rules)
                except Exception:  # one bad event must not hold up the shard forever: logged, kept
                    log.exception("dispatching event %s failed; it stays in the outbox", item.data.get("id"))
                    failed += 1
                    stuck = True  # keep the shard's order: the rest waits for the next run
                    break
                outbox.done(item)
                events += 1
            done += len(items)
    return {"events": events, "deliveries": deliveries, "failed": failed}
