"""The health sweep (issue 11 §2): probes, thresholds, self-healing, events, fan-out, races.

The provider here is a fake that keeps replicas in memory (real processes: the integration and
e2e tests); the store and queue are the embedded SQLite ones.
"""

from __future__ import annotations

import contextlib
import json
import threading

import pytest

from pilothouse.domain.components import ComponentSpec
from pilothouse.ports import Placement, ProviderError
from pilothouse.ports.providers import Replacement, ReplicaProbe
from pilothouse.services import components, health, health_sweep
from pilothouse.settings import get_settings
from pilothouse.wiring import Services
from tests.support.specs import spec


class HealingFake:
    """A provider whose replicas are dicts: tests kill them (``alive``) or make them fail (``ok``)."""

    name = "local"

    def __init__(self) -> None:
        self.replicas: dict[str, dict[str, dict]] = {}  # component -> id -> {"alive", "ok"}
        self.replaced: list[str] = []
        self.reaped: list[dict] = []
        self.fail_replace = False
        self.before_replace = None  # a hook run as a replacement starts (races)
        self._n = 0
        self._lock = threading.Lock()

    def start(self, component: str, count: int) -> Placement:
        for _ in range(count):
            self._new(component)
        return self.placement(component)

    def _new(self, component: str, *, locked: bool = False) -> str:
        if not locked:
            with self._lock:
                self._n += 1
        else:
            self._n += 1
        rid = f"{component}-r{self._n}"
        self.replicas.setdefault(component, {})[rid] = {"alive": True, "ok": True, "port": 9000 + self._n}
        return rid

    def placement(self, component: str) -> Placement:
        reps = self.replicas.get(component, {})
        return Placement(
            url=f"http://127.0.0.1:1/{component}",
            version="1.0.0",
            replicas=len(reps),
            details={"component": component, "replicas": [{"id": rid} for rid in reps]},
        )

    def probe_replicas(self, placement: Placement, timeout_seconds: float) -> list[ReplicaProbe]:
        comp = placement.details["component"]
        return [
            ReplicaProbe(
                rid,
                alive=r["alive"],
                ok=r["alive"] and r["ok"],
                error=None if r["ok"] and r["alive"] else ("exited" if not r["alive"] else "HTTP 503"),
                pid=1000 + int(rid.rsplit("r", 1)[1]),
                port=r["port"],
                revision="1.0.0+abc",
            )
            for rid, r in self.replicas.get(comp, {}).items()
        ]

    def replace_replicas(self, placement, release, replica_ids):
        if self.before_replace:
            self.before_replace()
        if self.fail_replace:
            raise ProviderError("cannot start")
        comp = placement.details["component"]
        done = []
        with self._lock:  # as the local provider holds the revision set's lock
            for rid in replica_ids:
                if self.replicas[comp].pop(rid, None) is None:
                    continue  # replaced already (a concurrent check)
                self.replaced.append(rid)
                done.append(Replacement(rid, self._new(comp, locked=True)))
        return self.placement(comp), done

    def reap_orphans(self, keep):
        return list(self.reaped)

    def close(self) -> None:
        pass


@pytest.fixture
def fake():
    return HealingFake()


@pytest.fixture
def services(env, clock, fake):
    return Services(get_settings(), clock, providers={"local": fake})


def running(services, fake, name="web", replicas=2, **hc):
    """A Running component with ``replicas`` fake replicas (written as a finished deploy would)."""
    s = spec(name, health_check={"interval_seconds": 0.01, "unhealthy_threshold": 2, **hc})
    components.register(services, ComponentSpec.model_validate(s), actor="t")
    repo = components.repo(services)
    record = repo.require(name)
    placement = fake.start(name, replicas)
    data = {
        **record.data,
        "state": "Running",
        "version": "1.0.0",
        "replicas": replicas,
        "placement": placement.to_dict(),
        "url": placement.url,
    }
    repo.update(record, data, {"type": "deploy.succeeded", "from": "Registered", "to": "Running"})
    return name


def events(services, name, kind=None):
    items, _ = components.events(services, name, limit=200)
    return [e for e in items if kind is None or e["type"] == kind]


def view(services, name):
    return components.view(components.get(services, name))


def test_a_healthy_component_is_recorded_healthy_with_one_event(services, fake, clock):
    """Given a Running component whose two replicas answer, when it is checked twice, then its
    view says Healthy with both replicas (pid, port, last probe) and one component.health event
    (from null to Healthy) was written: the second check changed nothing material."""
    running(services, fake)
    assert health.check(services, "web") == "Healthy"
    version = components.repo(services).require("web").version
    clock.advance(60)
    assert health.check(services, "web") == "Healthy"
    assert components.repo(services).require("web").version == version  # no write: nothing changed
    h = view(services, "web")["health"]
    assert h["status"] == "Healthy" and len(h["replicas"]) == 2
    assert all(r["healthy"] and r["pid"] and r["port"] and r["last_probe"] for r in h["replicas"])
    assert h["checked_at"] > h["since"]  # the view shows the latest probe, not the write
    (event,) = events(services, "web", "component.health")
    assert (event["from"], event["to"]) == (None, "Healthy")


def test_an_exited_replica_is_replaced_without_changing_the_lifecycle_state(services, fake):
    """Given a healthy Running component, when one replica's process exits and the next check
    runs, then it is replaced (replica.replaced, reason exited, old and new replica named), the
    component stays Running, Healthy, with the same replica count and a placement naming the new one."""
    running(services, fake)
    health.check(services, "web")
    dead = next(iter(fake.replicas["web"]))
    fake.replicas["web"][dead]["alive"] = False
    assert health.check(services, "web") == "Healthy+replaced 1"
    c = view(services, "web")
    assert c["state"] == "Running" and c["replicas"] == 2
    ids = {r["id"] for r in c["placement"]["details"]["replicas"]}
    assert dead not in ids and len(ids) == 2
    assert c["health"]["status"] == "Healthy"
    (ev,) = events(services, "web", "replica.replaced")
    assert ev["reason"] == "exited" and ev["replica"]["id"] == dead
    assert ev["replacement"]["id"] in ids and ev["replacement"]["healthy"] is True
    after_deploy = [e for e in events(services, "web") if e["type"] not in ("registered", "deploy.succeeded")]
    assert {e.get("to") for e in after_deploy} <= {None, "Healthy"}  # no lifecycle transition


def test_a_failing_replica_is_replaced_only_past_its_threshold(services, fake, clock):
    """Given unhealthy_threshold 3 and no time to confirm within a sweep, when one replica answers
    503, then the first two checks mark it failing but healthy (Healthy), and the third replaces it
    (reason unhealthy)."""
    running(services, fake, unhealthy_threshold=3)
    health.check(services, "web")
    bad = next(iter(fake.replicas["web"]))
    fake.replicas["web"][bad]["ok"] = False
    for _ in range(2):
        clock.advance(60)
        assert health.check(services, "web") == "Healthy"
        assert fake.replaced == []
    r = next(r for r in view(services, "web")["health"]["replicas"] if r["id"] == bad)
    assert r["last_error"] == "HTTP 503" and r["healthy"] is True
    clock.advance(60)
    assert health.check(services, "web").endswith("+replaced 1")
    assert fake.replaced == [bad]
    assert events(services, "web", "replica.replaced")[0]["reason"] == "unhealthy"


def test_within_one_sweep_a_failure_is_confirmed_at_the_spec_interval(services, fake):
    """Given a sweep with time left, when a replica fails its probe, then it is probed again at the
    spec's interval until its threshold and replaced in the same check."""
    import time

    running(services, fake, unhealthy_threshold=3)
    health.check(services, "web")
    bad = next(iter(fake.replicas["web"]))
    fake.replicas["web"][bad]["ok"] = False
    outcome = health.check(services, "web", confirm_until=time.monotonic() + 5)
    assert outcome.endswith("+replaced 1") and fake.replaced == [bad]


def test_no_healthy_replica_raises_component_unhealthy(services, fake, clock):
    """Given a component whose replicas all fail and cannot be replaced, when it is checked past
    its threshold, then it is Unhealthy with component.health (Healthy -> Unhealthy) and
    component.unhealthy events, the latter naming the errors; once they answer again, Healthy."""
    running(services, fake, unhealthy_threshold=1)
    health.check(services, "web")
    for r in fake.replicas["web"].values():
        r["ok"] = False
    fake.fail_replace = True
    clock.advance(60)
    assert health.check(services, "web") == "Unhealthy"
    assert view(services, "web")["state"] == "Running"
    (unhealthy,) = events(services, "web", "component.unhealthy")
    assert unhealthy["reason"] == "HTTP 503" and unhealthy["healthy_replicas"] == 0
    transitions = [(e["from"], e["to"]) for e in events(services, "web", "component.health")]
    assert transitions == [(None, "Healthy"), ("Healthy", "Unhealthy")]
    for r in fake.replicas["web"].values():
        r["ok"] = True
    clock.advance(60)
    assert health.check(services, "web") == "Healthy"
    assert [e["to"] for e in events(services, "web", "component.health")][-1] == "Healthy"
    assert len(events(services, "web", "component.unhealthy")) == 1


def test_some_unhealthy_replicas_make_it_degraded(services, fake, clock):
    """Given three replicas of which one fails and cannot be replaced, then the status is Degraded."""
    running(services, fake, replicas=3, unhealthy_threshold=1)
    fake.fail_replace = True
    next(iter(fake.replicas["web"].values()))["ok"] = False
    assert health.check(services, "web") == "Degraded"
    assert view(services, "web")["health"]["status"] == "Degraded"


@pytest.mark.parametrize("state", ["Updating", "Scaling"])
def test_a_component_in_a_command_is_probed_read_only_and_never_healed(services, fake, state):
    """Given a component in ``state`` (a command owns its replicas), when it is checked with a
    dead replica, then its health is refreshed in the view (Degraded, the dead replica named) but
    nothing is replaced, the component's record keeps its version and no event is written; once
    the command ends, the next check records the change with its event."""
    running(services, fake, replicas=2)
    repo = components.repo(services)
    record = repo.require("web")
    repo.update(record, {**record.data, "state": state}, {"type": "t", "from": "Running", "to": state})
    dead = next(iter(fake.replicas["web"].values()))
    dead["alive"] = False
    version, before = repo.require("web").version, len(events(services, "web", "component.health"))
    assert health.check(services, "web") == "Degraded"
    assert fake.replaced == [] and repo.require("web").version == version
    assert len(events(services, "web", "component.health")) == before
    shown = view(services, "web")["health"]
    assert shown["status"] == "Degraded" and sum(not r["healthy"] for r in shown["replicas"]) == 1
    record = repo.require("web")
    repo.update(record, {**record.data, "state": "Running"}, {"type": "t", "from": state, "to": "Running"})
    health.check(services, "web")
    assert events(services, "web", "component.health")[-1]["to"] in ("Degraded", "Healthy")


@pytest.mark.parametrize("state", ["Deploying", "Stopped", "Stopping"])
def test_a_component_not_serving_is_not_probed(services, fake, state):
    """Given a component in ``state``, when it is checked with a dead replica, then nothing is
    probed, replaced or written."""
    running(services, fake)
    repo = components.repo(services)
    record = repo.require("web")
    repo.update(record, {**record.data, "state": state}, {"type": "t", "from": "Running", "to": state})
    next(iter(fake.replicas["web"].values()))["alive"] = False
    version = repo.require("web").version
    assert health.check(services, "web") == "skipped"
    assert fake.replaced == [] and repo.require("web").version == version


def test_a_command_that_wins_the_race_keeps_its_write(services, fake):
    """Given a check about to replace a dead replica, when a scale command lands between the
    check's read and its replacement, then the check does not replace (the command owns the
    replicas now) and the command's record stands."""
    from pilothouse.domain.lifecycle import Command

    running(services, fake)
    health.check(services, "web")
    next(iter(fake.replicas["web"].values()))["alive"] = False
    real = health.probe

    def probe_then_command(svc, record):
        out = real(svc, record)
        components.command(services, "web", Command.SCALE, actor="t", params={"replicas": 3})
        return out

    health.probe = probe_then_command  # type: ignore[assignment]
    try:
        health.check(services, "web")
    finally:
        health.probe = real  # type: ignore[assignment]
    assert fake.replaced == []
    assert components.repo(services).require("web").state == "Scaling"


def test_the_sweep_fans_out_one_message_per_batch(services, fake, monkeypatch):
    """Given 7 Running components, 1 Registered, and batches of 3, when the sweep runs, then 3
    messages name the 7 (not the Registered one), and handling them records health for each."""
    for i in range(7):
        running(services, fake, name=f"c{i}", replicas=1)
    components.register(services, ComponentSpec.model_validate(spec("idle")), actor="t")
    settings = services.settings.model_copy(update={"health_batch_size": 3})
    monkeypatch.setattr(services, "settings", settings)
    out = health_sweep.sweep(services)
    assert out == {"components": 7, "batches": 3, "reaped": 0}
    messages = services.queue.receive(settings.health_queue, max_messages=10)
    names = [n for m in messages for n in json.loads(m.body)["components"]]
    assert sorted(names) == [f"c{i}" for i in range(7)]
    for m in messages:
        assert set(health_sweep.handle_message(services, m.body).values()) == {"Healthy"}
    assert view(services, "c3")["health"]["status"] == "Healthy"


def test_a_batch_that_waited_past_the_next_sweep_is_dropped(services, fake, clock):
    """Given a batch message whose not_after has passed, when it is handled, nothing is checked."""
    running(services, fake)
    body = json.dumps({"components": ["web"], "not_after": clock.time() - 1})
    assert health_sweep.handle_message(services, body) == {"dropped": 1}
    assert view(services, "web")["health"]["status"] == "Unknown"


def test_an_orphan_reaped_is_an_event_of_its_component(services, fake):
    """Given the provider reaps a replica of ``web`` nothing recorded, when the sweep runs, then
    ``web`` has a replica.reaped event naming it."""
    running(services, fake)
    fake.reaped = [{"id": "lost1", "pid": 4242, "component": "web", "revision": "x", "port": 5555}]
    assert health_sweep.sweep(services)["reaped"] == 1
    (ev,) = events(services, "web", "replica.reaped")
    assert ev["replica"]["id"] == "lost1" and ev["replica"]["pid"] == 4242


def test_a_stopped_component_shows_unknown_health(services, fake):
    """Given a component that was Healthy, when it is stopped, its view's health is Unknown."""
    running(services, fake)
    health.check(services, "web")
    repo = components.repo(services)
    record = repo.require("web")
    repo.update(
        record, {**record.data, "state": "Stopped"}, {"type": "t", "from": "Running", "to": "Stopped"}
    )
    assert components.view(repo.require("web"))["health"]["status"] == "Unknown"


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[]",
        '{"components": "web"}',
        '{"components": [1, 2]}',
        '{"not_after": 1}',
        '{"components": [""]}',
    ],
)
def test_a_malformed_batch_message_is_dropped_not_retried(services, fake, body):
    """Given a health-queue message that is not a batch of names, when handled, then it is dropped
    (no exception: retrying cannot fix it) and nothing is checked."""
    running(services, fake)
    assert health_sweep.handle_message(services, body) == {"invalid": 1}
    assert view(services, "web")["health"]["status"] == "Unknown"


class RevisionsOnly:
    """A provider without replicas of its own (as a Lambda): only ``check_health`` per revision."""

    name = "aws-lambda"

    def __init__(self) -> None:
        self.healthy = {"3": True}
        self.asked: list[str] = []

    def check_health(self, placement, revision):
        from pilothouse.ports import HealthResult

        self.asked.append(revision)
        ok = self.healthy.get(revision, False)
        return HealthResult(ok, 1, 0 if ok else 1, "" if ok else "GET https://fn.example/health: HTTP 500")

    def close(self) -> None:
        pass


def test_a_provider_without_replicas_is_probed_per_revision_taking_traffic(env, clock):
    """Given a Lambda-like component whose placement has revision 3 at 100 % and 2 at 0 %, when
    checked, then only revision 3 is probed (Healthy); when it fails past its threshold, the
    component is Unhealthy, and nothing is replaced (the provider cannot)."""
    lam = RevisionsOnly()
    services = Services(get_settings(), clock, providers={"aws-lambda": lam})
    s = spec("fn", provider="aws-lambda", target={"function_name": "fn"})
    s["health_check"] = {"interval_seconds": 1, "unhealthy_threshold": 1}
    components.register(services, ComponentSpec.model_validate(s), actor="t")
    repo = components.repo(services)
    record = repo.require("fn")
    placement = {
        "url": None,
        "version": "1.0.0",
        "replicas": 1,
        "details": {"revisions": {"2": {"weight": 0}, "3": {"weight": 100}}},
    }
    repo.update(record, {**record.data, "state": "Running", "placement": placement}, {"type": "t"})
    assert health.check(services, "fn") == "Healthy" and lam.asked == ["3"]
    lam.healthy["3"] = False
    clock.advance(60)
    assert health.check(services, "fn") == "Unhealthy"
    (r,) = view(services, "fn")["health"]["replicas"]
    assert r["id"] == "3" and r["pid"] is None and "HTTP 500" in r["last_error"]


def test_a_provider_not_configured_here_gives_unknown(env, clock):
    """Given a Running component whose provider this deployment has no adapter for, when checked,
    then its health is Unknown (no replica), not an error."""
    services = Services(get_settings(), clock, providers={})
    s = spec("k", provider="kubernetes", target={"namespace": "default", "deployment": "k"})
    components.register(services, ComponentSpec.model_validate(s), actor="t")
    repo = components.repo(services)
    record = repo.require("k")
    placement = {"url": None, "version": "1.0.0", "replicas": 1, "details": {}}
    repo.update(record, {**record.data, "state": "Running", "placement": placement}, {"type": "t"})
    assert health.check(services, "k") == "Unknown"
    assert view(services, "k")["health"] == {
        "status": "Unknown",
        "since": view(services, "k")["health"]["since"],
        "checked_at": view(services, "k")["health"]["checked_at"],
        "replicas": [],
    }


def test_two_checks_racing_on_one_component_replace_once_and_agree(services, fake):
    """Given a dead replica and two checks of the same component at once (a redelivered batch
    beside the next sweep's), when both run, then the replica is replaced once, the provider runs
    two replicas, and the record names exactly those two, with one replica.replaced event."""
    running(services, fake)
    health.check(services, "web")
    dead = next(iter(fake.replicas["web"]))
    fake.replicas["web"][dead]["alive"] = False
    barrier = threading.Barrier(2)
    real = health.probe

    def together(svc, record):
        out = real(svc, record)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)  # both have probed before either heals
        return out

    health.probe = together  # type: ignore[assignment]
    try:
        threads = [threading.Thread(target=health.check, args=(services, "web")) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        health.probe = real  # type: ignore[assignment]
    assert fake.replaced == [dead] and len(fake.replicas["web"]) == 2
    health.check(services, "web")  # whatever lost the race is recorded by the next check
    c = view(services, "web")
    assert {r["id"] for r in c["placement"]["details"]["replicas"]} == set(fake.replicas["web"])
    assert c["health"]["status"] == "Healthy"
    assert len(events(services, "web", "replica.replaced")) == 1


def test_an_interval_longer_than_the_sweep_is_honoured(services, fake, clock):
    """Given interval_seconds 300, when sweeps come every minute, then the component is probed
    again only once its interval has passed."""
    running(services, fake, interval_seconds=300)
    assert health.check(services, "web") == "Healthy"
    for _ in range(4):
        clock.advance(60)
        assert health.check(services, "web") == "skipped"
    clock.advance(60)
    assert health.check(services, "web") == "Healthy"


def test_the_sweep_period_follows_the_schedule_scale(services, fake, clock, monkeypatch):
    """Given schedule_scale 10 (the minute sweep every 6 s), when the sweep runs, then its batch is
    worth checking for 6 s (not a minute), and a batch handled after those 6 s is dropped."""
    running(services, fake)
    monkeypatch.setattr(services, "settings", services.settings.model_copy(update={"schedule_scale": 10.0}))
    assert health_sweep.sweep_period(services) == 6.0
    health_sweep.sweep(services)
    (message,) = services.queue.receive(services.settings.health_queue, max_messages=10)
    assert json.loads(message.body)["not_after"] == pytest.approx(clock.time() + 6.0)
    clock.advance(6.5)
    assert health_sweep.handle_message(services, message.body) == {"dropped": 1}
