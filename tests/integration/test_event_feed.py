"""The event feed: outbox entries in the transaction of their change, dispatch that survives a
crash without duplicate deliveries, racing dispatchers and workers, racing alert writers."""

from __future__ import annotations

import threading

import pytest

from pilothouse.errors import VersionConflict
from pilothouse.repositories.components import ComponentRepository
from pilothouse.repositories.outbox import OutboxRepository, deployment_feed
from pilothouse.services import alerts
from pilothouse.services.event_feed import dispatch
from tests.support.controlplane import drain
from tests.support.receivers import Receiver
from tests.support.specs import spec

QUEUE = "pilothouse-notifications"


def outbox(services):
    """The undispatched events, in the order they were written."""
    return sorted((i.data for i in OutboxRepository(services.store).undispatched()), key=lambda e: e["at"])


def test_every_component_event_has_its_outbox_entry_and_a_lost_race_has_none(api, services):
    """Given a registered component
    When its record is updated, and a second writer loses the version race
    Then each landed event has exactly one outbox entry, the losing write none."""
    api.post("/v1/components", spec("web", environment="staging"))
    (registered,) = outbox(services)
    assert registered["type"] == "component.registered" and registered["environment"] == "staging"
    repo = ComponentRepository(services.store)
    record = repo.require("web")
    repo.update(record, {**record.data, "replicas": 2}, {"type": "scaled", "replicas": 2})
    with pytest.raises(VersionConflict):
        repo.update(record, {**record.data, "replicas": 3}, {"type": "scaled", "replicas": 3})
    assert [e["type"] for e in outbox(services)] == ["component.registered", "component.scaled"]
    assert outbox(services)[1]["detail"] == {"replicas": 2}


@pytest.mark.parametrize(
    ("event", "status", "feed"),
    [
        ({"type": "failed", "status": "rolled_back"}, "rolled_back", "deployment.rolled_back"),
        ({"type": "failed", "status": "failed"}, "failed", "deployment.failed"),
        ({"type": "succeeded", "status": "succeeded"}, "succeeded", "deployment.succeeded"),
        ({"type": "approval.waiting", "step": 3}, "awaiting_approval", "approval.requested"),
        ({"type": "approval.approved", "actor": "key:x"}, "in_progress", "approval.approved"),
        ({"type": "analysis.measured", "step": 2}, "in_progress", "deployment.analysis.measured"),
    ],
)
def test_deployment_events_reach_the_feed_under_their_family(event, status, feed):
    record = {"id": "d1", "component": "web", "environment": "production", "status": status}
    assert deployment_feed(record, event)["type"] == feed


def test_a_dispatcher_crash_before_clearing_the_outbox_does_not_deliver_twice(
    api, services, pool, cloud, monkeypatch, loopback_only
):
    """Given a channel and a registered component
    When the dispatcher dies after queueing the delivery but before clearing the outbox entry,
    and runs again
    Then the second run finds the same delivery (its id is the event's), and one request arrives."""
    receiver = Receiver()
    try:
        body = {"name": "ops", "kind": "slack", "url": receiver.url, "subscriptions": [{"events": ["*"]}]}
        assert api.post("/v1/notifications/channels", body)[0] == 201
        api.post("/v1/components", spec("web"))
        real_done = OutboxRepository.done

        def crash(self, item):
            raise SystemExit("killed")

        monkeypatch.setattr(OutboxRepository, "done", crash)
        with pytest.raises(SystemExit):
            dispatch(services)
        monkeypatch.setattr(OutboxRepository, "done", real_done)
        assert dispatch(services) == {"events": 1, "deliveries": 1, "failed": 0}
        drain(services, pool, cloud, [QUEUE])
        assert len(receiver.received) == 1
        assert len(services.store.scan_all("NOTIFY_DELIVERY#ops")) == 1
    finally:
        receiver.close()


def test_racing_dispatchers_and_workers_send_each_event_once(api, services, pool, cloud, loopback_only):
    """Given ten events and a channel
    When two dispatchers run at once, then two workers drain the queue at once
    Then every event is delivered exactly once."""
    receiver = Receiver()
    try:
        body = {"name": "ops", "kind": "slack", "url": receiver.url, "subscriptions": [{"events": ["*"]}]}
        api.post("/v1/notifications/channels", body)
        for i in range(10):
            api.post("/v1/components", spec(f"c{i}"))
        errors: list[BaseException] = []

        def run(target):
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 (reported by the test)
                errors.append(exc)

        for target in (lambda: dispatch(services), lambda: drain(services, pool, cloud, [QUEUE])):
            threads = [threading.Thread(target=run, args=(target,)) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
        drain(services, pool, cloud, [QUEUE])
        assert not errors, errors
        texts = sorted(r["body"]["text"] for r in receiver.received)
        assert texts == sorted(f"[component.registered] c{i}: — → Registered" for i in range(10)), texts
        assert outbox(services) == []
    finally:
        receiver.close()


def test_racing_alert_writers_all_land(api, services):
    """Given a firing alert
    When an acknowledgement, a silence and evaluations race
    Then every change is kept (none overwrites another): ack, silence and history all there."""
    api.post("/v1/alerts/rules", {"name": "rb", "kind": "event"})
    alerts.transition(services, "rb", "breaching", {"event": "e1"})
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def go(fn):
        try:
            barrier.wait(10)
            fn()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    jobs = [
        lambda: alerts.acknowledge(services, "rb", actor="a", comment="mine"),
        lambda: alerts.silence(services, "rb", minutes=5, reason="fix", actor="b"),
        lambda: alerts.transition(services, "rb", "breaching", {"event": "e2"}),
        lambda: alerts.transition(services, "rb", "breaching", {"event": "e3"}),
    ]
    threads = [threading.Thread(target=go, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    alert = alerts.get_alert(services, "rb")
    assert alert["state"] == "FIRING"
    assert alert["acknowledged"]["comment"] == "mine" and alert["silenced"]["reason"] == "fix"
    assert sorted(h["type"] for h in alert["history"]) == ["acknowledged", "silenced", "state"]
    assert alert["history_count"] == 3
