"""What a restart restores, and at which version: a deployment caught mid-way keeps its stable
revision at the version it ran; a restored component is marked while it is being restored."""

from __future__ import annotations

from typing import Any

import pytest

from pilothouse.domain.components import ComponentSpec
from pilothouse.errors import Conflict
from pilothouse.providers.base import Placement, Release
from pilothouse.services import components, deployments, jobs
from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services

STABLE = "1.0.0+aaaaaa"


class RecordingProvider:
    """Records what it is asked to restore; gives the placement back as it was."""

    name = "local"

    def __init__(self) -> None:
        self.restored: list[tuple[Placement, Release]] = []

    def restore(self, current: Placement, release: Release) -> Placement:
        self.restored.append((current, release))
        return current

    def close(self) -> None:
        pass


def placement(version: str) -> Placement:
    return Placement(
        url="http://127.0.0.1:40001",
        version=version,
        replicas=1,
        details={
            "provider": "local",
            "component": "web",
            "stable_port": 40001,
            "revision": STABLE,
            "replicas": [],
            "revisions": {
                STABLE: {"version": version, "replicas": 1, "weight": 100, "health_path": "/health"}
            },
            "stable": STABLE,
            "candidate": None,
            "weights_source": "fixed",
        },
    )


@pytest.fixture
def provider() -> RecordingProvider:
    return RecordingProvider()


@pytest.fixture
def services(env, provider):
    """The services, with a recording local provider."""
    s = Services(get_settings(), providers={"local": provider})
    register_services(s)
    return s


def updating_mid_deployment(services) -> dict[str, Any]:
    """web Running 1.0.0, then an update to 3.0.0-broken whose deployment started but had not
    prepared its candidate yet (its placement: the stable revision alone)."""
    spec = ComponentSpec.model_validate(
        {
            "name": "web",
            "provider": "local",
            "environment": "development",
            "version": "1.0.0",
            "target": {"command": ["serve", "{port}"]},
            "health_check": {"path": "/health"},
        }
    )
    components.register(services, spec, actor="test")
    record = components.get(services, "web")
    current = placement("1.0.0").to_dict()
    running = {
        **record.data,
        "state": "Running",
        "version": "1.0.0",
        "placement": current,
        "replicas": 1,
        "url": current["url"],
    }
    record = components.repo(services).update(record, running, {"type": "test.running"})
    op = {
        "id": "0000000000001000000-deadbeef",
        "command": "update",
        "params": {"version": "3.0.0-broken"},
        "deployment_started": True,
        "requested_epoch": 0.0,
    }
    components.repo(services).update(
        record, {**running, "state": "Updating", "operation": op}, {"type": "test.updating"}
    )
    deployments.repo(services).create(
        {
            "id": op["id"],
            "component": "web",
            "environment": "development",
            "provider": "local",
            "command": "update",
            "from_version": "1.0.0",
            "to_version": "3.0.0-broken",
            "config": None,
            "workflow": "pilothouse-all-at-once",
            "execution": op["id"],
            "status": "in_progress",
            "placement": current,
            "steps": [],
            "created_at": "1970-01-01T00:00:00Z",
            "updated_at": "1970-01-01T00:00:00Z",
        },
        {"type": "created"},
    )
    return op


def test_a_deployment_caught_before_its_candidate_keeps_its_stable_version(services, provider):
    """Given an update to 3.0.0-broken whose deployment recorded only the stable 1.0.0 revision
    When the control plane restarts and restores placements
    Then the stable revision is restored at 1.0.0 (not turned into 3.0.0-broken, which would lose
    the working version)."""
    updating_mid_deployment(services)

    assert jobs.restore_placements(services) == {"web": "restored mid-deployment"}

    ((current, release),) = provider.restored
    assert (current.version, release.version) == ("1.0.0", "1.0.0")


def test_a_component_is_marked_while_it_is_restored(services, provider):
    """Given a component caught mid-deployment by a restart
    When the restart marks what it will restore, then restores it
    Then its view says restoring: true in between, and false after."""
    updating_mid_deployment(services)

    assert jobs.mark_restoring(services) == ["web"]
    assert components.view(components.get(services, "web"))["restoring"] is True
    jobs.restore_placements(services)
    assert components.view(components.get(services, "web"))["restoring"] is False


def test_commands_on_a_component_being_restored_answer_409_with_retry_after(services, provider):
    """Given a Running component marked as being restored
    When it is scaled
    Then the command is refused with 409, Retry-After and restoring: true -- and accepted once the
    restore is done."""
    spec = ComponentSpec.model_validate(
        {
            "name": "api",
            "provider": "local",
            "environment": "development",
            "version": "1.0.0",
            "target": {"command": ["serve", "{port}"]},
            "health_check": {"path": "/health"},
            "scaling": {"min": 1, "max": 3},
        }
    )
    components.register(services, spec, actor="test")
    record = components.get(services, "api")
    current = placement("1.0.0").to_dict()
    components.repo(services).update(
        record,
        {**record.data, "state": "Running", "version": "1.0.0", "placement": current, "replicas": 1},
        {"type": "test.running"},
    )
    jobs.mark_restoring(services)

    with pytest.raises(Conflict) as refused:
        components.command(services, "api", components.Command.SCALE, {"replicas": 2}, actor="test")
    assert refused.value.status == 409 and refused.value.headers["Retry-After"]
    assert refused.value.extra["restoring"] is True and "being restored" in refused.value.detail

    jobs.restore_placements(services)
    accepted = components.command(services, "api", components.Command.SCALE, {"replicas": 2}, actor="test")
    assert accepted["state"] == "Scaling"


def test_a_retry_caught_before_its_deployment_is_not_restored(services, provider):
    """Given a Failed component whose retry was accepted (Deploying) but whose deployment had not
    started when the control plane stopped; its record still names the failed attempt's placement
    When the control plane restarts
    Then that placement is not restored (the retry stops it and deploys afresh) and the component
    is not marked as being restored."""
    updating_mid_deployment(services)
    record = components.get(services, "web")
    op = {"id": "0000000000002000000-cafebabe", "command": "retry", "params": {}, "requested_epoch": 0.0}
    components.repo(services).update(
        record, {**record.data, "state": "Deploying", "operation": op}, {"type": "test.retrying"}
    )

    assert jobs.mark_restoring(services) == []
    assert jobs.restore_placements(services) == {}
    assert provider.restored == []
