"""The event feed's cost (issue 11 §4), on SQLite with the local queue.

1. The outbox on the write path: ``BENCH_FEED_EVENTS`` component updates through the repository
   (record, event and outbox entry in one transaction), against the anchor in the same run: the
   same transaction without the outbox entry (record and event only).
2. Dispatch: draining those events to three channels (one subscribed to every component event,
   two to nothing they carry), against the anchor of one plain ``store.put`` per delivery made,
   the least any dispatcher must write.

Each prints seconds, events per second and the ratio to its anchor.

    .venv/bin/python -m pytest tests/benchmarks/test_bench_event_feed.py -s
"""

from __future__ import annotations

import os
import time

from pilothouse.clock import iso
from pilothouse.ports import Item, Put
from pilothouse.repositories.components import RECORD_SK, ComponentRepository, _stored, component_pk
from pilothouse.repositories.notifications import ChannelRepository
from pilothouse.settings import Settings
from pilothouse.wiring import Services
from tests.support.bench import report

EVENTS = int(os.environ.get("BENCH_FEED_EVENTS", "2000"))


def _services(tmp_path):
    return Services(Settings(store="sqlite", queue="local", data_dir=tmp_path / "data"))


def _record(name: str, now: float) -> dict:
    return {
        "name": name,
        "spec": {"name": name, "provider": "local", "environment": "production", "version": "1.0.0"},
        "state": "Running",
        "version": "1.0.0",
        "replicas": 1,
        "created_at": iso(now),
        "updated_at": iso(now),
    }


def test_outbox_write_cost_and_dispatch_rate(tmp_path):
    services = _services(tmp_path)
    store = services.store
    repo = ComponentRepository(store)
    names = [f"svc-{i:03d}" for i in range(50)]
    for name in names:
        repo.create(_record(name, time.time()), {"type": "registered", "to": "Registered"})
    from pilothouse.services.event_feed import dispatch

    dispatch(services)  # the registrations: not timed

    # anchor 1: the same transaction (record validated as the repository does, and its event),
    # without the outbox entry
    started = time.perf_counter()
    for i in range(EVENTS):
        record = repo.require(names[i % len(names)])
        data = _stored({**record.data, "replicas": i})
        event = repo._event(record.name, record.version + 1, {"type": "scaled", "replicas": i})
        store.transact(
            [
                Put(Item(component_pk(record.name), RECORD_SK, data), if_version=record.version),
                Put(event, if_absent=True),
            ]
        )
    anchor_write = time.perf_counter() - started

    started = time.perf_counter()
    for i in range(EVENTS):
        record = repo.require(names[i % len(names)])
        repo.update(record, {**record.data, "replicas": i}, {"type": "scaled", "replicas": i})
    with_outbox = time.perf_counter() - started

    channels = ChannelRepository(store)
    for name, events in (("all", ["component.*"]), ("alerts", ["alert.*"]), ("prod", ["deployment.*"])):
        channels.create(
            {
                "id": f"ch_{name}",
                "name": name,
                "kind": "webhook",
                "url_sealed": "v1.x.y",
                "url_display": "https://example.com/…",
                "subscriptions": [{"events": events, "components": [], "environments": []}],
                "created_at": iso(time.time()),
                "created_by": "bench",
            }
        )
    started = time.perf_counter()
    counts = dispatch(services)
    dispatched = time.perf_counter() - started
    assert counts["events"] == EVENTS and counts["deliveries"] == EVENTS

    started = time.perf_counter()
    for i in range(EVENTS):
        store.put(Item("BENCH_ANCHOR", f"{i:08d}", {"i": i, "event": {"type": "component.scaled"}}))
    anchor_dispatch = time.perf_counter() - started

    report(
        f"event feed, {EVENTS} component events, SQLite",
        {
            "update without outbox (anchor)": f"{anchor_write:.2f} s ({EVENTS / anchor_write:,.0f}/s)",
            "update with outbox": f"{with_outbox:.2f} s ({EVENTS / with_outbox:,.0f}/s)",
            "outbox ratio to anchor": f"{with_outbox / anchor_write:.2f}x",
            "one put per delivery (anchor)": f"{anchor_dispatch:.2f} s ({EVENTS / anchor_dispatch:,.0f}/s)",
            "dispatch to 3 channels (1 wants)": f"{dispatched:.2f} s ({EVENTS / dispatched:,.0f} events/s)",
            "dispatch ratio to anchor": f"{dispatched / anchor_dispatch:.2f}x",
        },
    )
    services.close()
