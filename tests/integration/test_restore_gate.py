"""A restart listens before it has read any component (issue 9): until the background pass has
marked what it restores, those components answer as marked ones do (GET says restoring, commands
409 with Retry-After), and the other components answer as always."""

from __future__ import annotations

import threading

import pytest

from pilothouse.clock import iso
from pilothouse.domain.lifecycle import Command
from pilothouse.errors import Conflict
from pilothouse.providers.base import Placement
from pilothouse.services import components, jobs, restoring
from pilothouse.settings import get_settings
from pilothouse.wiring import Services
from tests.support.fakes import RevisionFake
from tests.support.specs import spec


@pytest.fixture
def services(env):
    return Services(get_settings(), providers={"local": RevisionFake()})


def seed(services, name: str, *, running: bool) -> None:
    """A component straight into the store: Running with a placement, or Registered."""
    s = spec(name)
    now = iso(services.clock.time())
    full = components.parse_spec(s).model_dump(mode="json")
    place = Placement(url="http://127.0.0.1:40001", version="1.0.0", replicas=1) if running else None
    components.repo(services).create(
        {
            "name": name,
            "spec": full,
            "state": "Running" if running else "Registered",
            "version": "1.0.0" if running else None,
            "replicas": 1 if running else 0,
            "url": place.url if place else None,
            "placement": place.to_dict() if place else None,
            "last_error": None,
            "operation": None,
            "created_at": now,
            "updated_at": now,
            "created_by": "t",
        },
        {"type": "registered", "from": None, "to": "Registered", "actor": "t"},
    )


def test_before_the_marking_pass_a_component_to_restore_answers_as_marked(services):
    """Given a Running component with a placement and a Registered one, when a restart has begun
    and nothing is marked yet, then the Running one reads restoring and its scale is a 409 with
    Retry-After, while the Registered one deploys; after the marking pass the mark is written, and
    after the restore it is gone and the scale is accepted."""
    seed(services, "web", running=True)
    seed(services, "idle", running=False)
    restoring.begin(services)
    assert components.repo(services).require("web").data.get("restoring") is None  # nothing written
    assert components.view(components.get(services, "web"))["restoring"] is True
    listed = {c["name"]: c["restoring"] for c in components.list_components(services)[0]}
    assert listed == {"idle": False, "web": True}
    with pytest.raises(Conflict) as refused:
        components.command(services, "web", Command.SCALE, {"replicas": 2}, actor="t")
    assert refused.value.headers == {"Retry-After": "2"} and "being restored" in refused.value.detail
    assert components.command(services, "idle", Command.DEPLOY, actor="t")["state"] == "Deploying"

    marked = jobs.mark_restoring(services)
    assert marked == ["web"]
    assert components.repo(services).require("web").data["restoring"]["note"] == restoring.NOTE
    assert jobs.restore_placements(services, names=marked) == {"web": "restored"}
    assert components.view(components.get(services, "web"))["restoring"] is False
    assert (
        components.command(services, "web", Command.SCALE, {"replicas": 2}, actor="t")["state"] == "Scaling"
    )


def test_commands_racing_the_marking_pass_never_reach_a_component_to_restore(services):
    """Given 60 components (every third Running with a placement), when commands on every one of
    them race the marking pass, then no Running one takes a command (each gets 409) and every
    Registered one deploys; afterwards every Running one is marked."""
    names = [f"c{i:02d}" for i in range(60)]
    for i, name in enumerate(names):
        seed(services, name, running=i % 3 == 0)
    restoring.begin(services)
    results: dict[str, str] = {}
    go = threading.Barrier(3)

    def commands(part: list[str]) -> None:
        go.wait()
        for name in part:
            cmd = Command.SCALE if name in names[::3] else Command.DEPLOY
            try:
                params = {"replicas": 2} if cmd is Command.SCALE else None
                results[name] = components.command(services, name, cmd, params, actor="t")["state"]
            except Conflict as exc:
                results[name] = f"409 restoring={exc.extra.get('restoring')}"

    threads = [threading.Thread(target=commands, args=(names[k::2],)) for k in (0, 1)]
    for t in threads:
        t.start()
    go.wait()
    marked = jobs.mark_restoring(services)
    for t in threads:
        t.join()
    assert sorted(marked) == names[::3]
    assert {results[n] for n in names[::3]} == {"409 restoring=True"}
    assert {results[n] for n in names if n not in names[::3]} == {"Deploying"}
    assert all(components.repo(services).require(n).data.get("restoring") for n in names[::3])
