"""The stalled-job sweep reads the components in flight, not every component (issue 9)."""

from __future__ import annotations

import json

import pytest

import pilothouse.services.jobs as jobs_module
from pilothouse.domain.components import ComponentSpec
from pilothouse.domain.lifecycle import Command
from pilothouse.repositories.components import PK, RECORD_SK, component_pk
from pilothouse.repositories.derived import listing
from pilothouse.services import components
from pilothouse.services.maintenance import sweep
from pilothouse.settings import get_settings
from pilothouse.store import Item
from pilothouse.wiring import Services
from tests.support.fakes import RevisionFake
from tests.support.specs import spec


@pytest.fixture
def services(env):
    return Services(get_settings(), providers={"local": RevisionFake()})


def register(services, name):
    components.register(services, ComponentSpec.model_validate(spec(name)), actor="t")


def component_reads(services, monkeypatch) -> list[str]:
    """Every query of the component partition (a pass over all components) is recorded here."""
    seen: list[str] = []
    real = services.store.query

    def query(pk, *args, **kwargs):
        if pk == PK:
            seen.append(pk)
        return real(pk, *args, **kwargs)

    monkeypatch.setattr(services.store, "query", query)
    return seen


def test_the_sweep_requeues_a_lost_job_without_reading_every_component(services, monkeypatch):
    """Given 30 components of which one has a deploy whose job message was lost, when the sweep
    runs twice, then it re-enqueues that one job each time and never lists the component partition
    after its first run (the one-time backfill)."""
    for i in range(30):
        register(services, f"c{i:02d}")
    components.command(services, "c07", Command.DEPLOY, actor="t")
    services.queue.purge(services.settings.jobs_queue)
    monkeypatch.setattr(jobs_module, "STALLED_AFTER_SECONDS", -1)
    assert sweep(services)["requeued"] == ["c07"]  # first run: backfill (one pass), then the index
    reads = component_reads(services, monkeypatch)
    assert sweep(services)["requeued"] == ["c07"]
    assert reads == []


def test_an_operation_written_before_the_index_is_swept(services, monkeypatch):
    """Given a pending deploy stored by a release without the index (straight into the store),
    when the sweep first runs, then its job is re-enqueued."""
    register(services, "old")
    record = components.repo(services).require("old")
    op = {"id": "0001-old", "command": "deploy", "params": {}, "requested_epoch": 0.0, "attempt": 0}
    data = {**record.data, "state": "Deploying", "operation": op}
    written = services.store.put(Item(component_pk("old"), RECORD_SK, data), if_version=record.version)
    services.store.put(Item(PK, "old", listing(data, written.version)))  # listed, not indexed
    assert sweep(services)["requeued"] == ["old"]
    (message,) = services.queue.receive(services.settings.jobs_queue, max_messages=10)
    assert json.loads(message.body) == {"component": "old", "operation_id": "0001-old"}
