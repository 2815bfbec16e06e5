"""One convention for "not found" across the repositories, and partition names only in them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pilothouse.clock import ManualClock
from pilothouse.errors import AlreadyExists, NotFound
from pilothouse.repositories.audit import AuditRepository
from pilothouse.repositories.components import ComponentRepository
from pilothouse.repositories.deployments import DeploymentRepository, FreezeRepository, PromotionRepository
from pilothouse.repositories.keys import ApiKeyRepository
from pilothouse.repositories.workflows import ExecutionRepository, WorkflowRepository
from pilothouse.store.memory import MemoryStore

SERVICES = Path(__file__).resolve().parents[2] / "shared" / "pilothouse" / "services"


@pytest.fixture
def store():
    return MemoryStore(ManualClock(0))


def test_get_answers_none_and_require_raises_not_found(store):
    components, deployments = ComponentRepository(store), DeploymentRepository(store)
    assert components.get("nope") is None and deployments.get("nope") is None
    with pytest.raises(NotFound, match="no component named 'nope'"):
        components.require("nope")
    with pytest.raises(NotFound, match="no deployment 'nope'"):
        deployments.require("nope")
    with pytest.raises(NotFound, match="no API key with id 'nope'"):
        ApiKeyRepository(store).require("nope")
    assert ApiKeyRepository(store).get("nope") is None
    assert FreezeRepository(store).get("component", "nope") is None
    assert WorkflowRepository(store).get("nope") is None
    assert ExecutionRepository(store).get("wf", "nope") is None
    with pytest.raises(NotFound, match="no execution 'nope' of workflow 'wf'"):
        ExecutionRepository(store).require("wf", "nope")
    with pytest.raises(NotFound, match="no workflow named 'nope'"):
        WorkflowRepository(store).require("nope")
    assert PromotionRepository(store).get("nope") is None
    assert AuditRepository(store).get("2026-01-01", "nope") is None


def test_freezes_round_trip(store):
    freezes = FreezeRepository(store)
    data = {"scope": "environment", "target": "prod", "reason": "r", "by": "a", "at": "t"}
    freezes.put(data)
    assert freezes.get("environment", "prod") == data and freezes.all() == [data]
    freezes.delete("environment", "prod")
    assert freezes.get("environment", "prod") is None


def test_port_claims_live_in_the_component_repository(store):
    components = ComponentRepository(store)
    assert components.port_claim(8080) is None
    components.claim_port(8080, "web", None)
    claim = components.port_claim(8080)
    assert claim is not None and claim.data == {"port": 8080, "component": "web", "at": store.clock.time()}
    with pytest.raises(AlreadyExists):  # claimed meanwhile: a claim over "free" fails
        components.claim_port(8080, "db", None)
    components.release_port(claim)
    assert components.port_claim(8080) is None


def test_no_service_names_a_partition_literally():
    """Partition and sort-key spelling lives in the repository modules (store/), not in services."""
    literal = re.compile(r"""store\.\w+\(\s*["'][A-Z]""")
    offenders = [p.name for p in SERVICES.glob("*.py") if literal.search(p.read_text())]
    assert offenders == []


class _TickingClock(ManualClock):
    """A clock that moves a millisecond every time it is read."""

    def time(self) -> float:
        now = super().time()
        self.advance(0.001)
        return now


def test_an_event_and_its_outbox_entry_share_one_time():
    """Given a clock that moves on every read, when a component is created, updated and removed,
    then each event and its outbox entry carry the same time (one stamp for both), and the entries'
    keys order as their events do."""
    store = MemoryStore(_TickingClock(1_700_000_000.0))
    repo = ComponentRepository(store)
    data = {
        "name": "web",
        "spec": {"environment": "staging"},
        "state": "Registered",
        "created_at": "t",
        "updated_at": "t",
    }
    record = repo.create(data, {"type": "registered", "to": "Registered"})
    record = repo.update(record, {**data, "state": "Deploying"}, {"type": "deploy", "to": "Deploying"})
    repo.remove(record, {"type": "deregistered"})
    events = store.scan_all("COMPONENT#web", "EVENT#")
    entries = store.scan_all("COMPONENT#web", "OUTBOX#")
    assert len(events) == len(entries) == 3
    for event, entry in zip(events, entries, strict=True):
        assert event.data["at"] == entry.data["at"]
        assert event.sk.split("#")[1] == entry.sk.split("#")[1]  # the same millisecond
    assert len({e.data["at"] for e in events}) == 3
