"""Rolling a component back restores its config with its version (issue 13): the revision a
succeeded update or rollback replaced is a version *and* a config; a rollback runs both again and
writes a config version restoring what that revision ran with."""

from __future__ import annotations

import pytest

from tests.support import deploying
from tests.support.deploying import comp, deployment, running, update
from tests.support.fakes import RevisionFake

services, run = deploying.services, deploying.run

SCHEMA = {"type": "object", "properties": {"greeting": {"type": "string"}, "port": {"type": "integer"}}}


class ConfigRecorder(RevisionFake):
    """Revisions that remember the config each was started with."""

    def __init__(self) -> None:
        super().__init__()
        self.started: list[tuple[str, dict]] = []

    def deploy(self, release):
        self.started.append((release.version, dict(release.config)))
        return super().deploy(release)

    def prepare(self, current, release):
        self.started.append((release.version, dict(release.config)))
        return super().prepare(current, release)


@pytest.fixture
def provider():
    return ConfigRecorder()


@pytest.fixture(autouse=True)
def _fresh_cache():
    from pilothouse.services import config_watch

    config_watch.clear()
    yield
    config_watch.clear()


def _set(api, values):
    status, _, out = api.call("PUT", "/v1/components/web/config", {"values": values})
    assert status == 200, out
    return out


def _served(api):
    status, _, body = api.get("/v1/components/web/config")
    assert status == 200, body
    return body


def _latest_version(api):
    return api.get("/v1/components/web/config/versions", query="limit=1")[2]["items"][0]


def test_rolling_back_a_succeeded_config_change_restores_the_previous_config_version(api, run, provider):
    """Given a Running component whose config went from version 1 to version 2 in two succeeded
    deployments, when the component is rolled back, then the rollback deployment runs version 1's
    config, the component runs it, and a new config version 3 restores version 1 (the served
    config, history and the next change start from what runs)."""
    running(api, run, config_schema=SCHEMA)
    _set(api, {"greeting": "hello", "port": 1})
    run()
    _set(api, {"greeting": "howdy", "port": 2})
    run()
    first = deployment(api)
    assert first["status"] == "succeeded" and first["config_version"] == 2
    assert comp(api)["spec"]["config"] == {"greeting": "howdy", "port": 2}

    status, _, out = api.post("/v1/components/web/rollback")
    assert status == 202, out
    run()
    back = deployment(api)
    assert back["id"] != first["id"] and back["command"] == "rollback" and back["status"] == "succeeded"
    assert back["config"] == {"greeting": "hello", "port": 1} and back["restores_config_version"] == 1
    web = comp(api)
    assert web["state"] == "Running" and web["spec"]["config"] == {"greeting": "hello", "port": 1}
    assert provider.started[-1] == ("1.0.0", {"greeting": "hello", "port": 1})
    body = _served(api)
    assert body["version"] == 3 and body["config"] == {"greeting": "hello", "port": 1}
    latest = _latest_version(api)
    assert latest["kind"] == "rollback" and latest["restored_from"] == 1
    assert latest["deployment_id"] == back["id"]
    # the next change starts from what runs: it is not rolled out again by itself
    assert comp(api)["operation"] is None


def test_rolling_back_a_version_update_brings_back_the_version_and_its_config(api, run, provider, services):
    """Given an update that changed both version and config and succeeded, when the component is
    rolled back, then the previous version runs again with the config it ran with, and rolling back
    once more goes forward again (the previous revision is the one the rollback replaced)."""
    running(api, run, config_schema=SCHEMA)
    _set(api, {"greeting": "old"})
    run()
    update(api, {"version": "2.0.0", "config": {"greeting": "new"}})
    run()
    assert deployment(api)["status"] == "succeeded"
    assert comp(api)["version"] == "2.0.0" and _served(api)["config"] == {"greeting": "new"}

    assert api.post("/v1/components/web/rollback")[0] == 202
    run()
    web = comp(api)
    assert web["version"] == "1.0.0" and web["spec"]["config"] == {"greeting": "old"}
    assert _served(api)["config"] == {"greeting": "old"}
    from pilothouse.services import components

    record = components.get(services, "web").data
    assert record["previous_revision"] == {"version": "2.0.0", "config": {"greeting": "new"}}

    assert api.post("/v1/components/web/rollback")[0] == 202
    run()
    web = comp(api)
    assert web["version"] == "2.0.0" and web["spec"]["config"] == {"greeting": "new"}
    assert _served(api)["config"] == {"greeting": "new"}


def test_a_named_other_version_keeps_the_config_that_runs(api, run, provider):
    """Given a succeeded config change, when the component is rolled back to a named version that
    is not the previous revision's, then that version runs with the config that runs now, and no
    config version is written."""
    running(api, run, config_schema=SCHEMA)
    _set(api, {"greeting": "a"})
    run()
    _set(api, {"greeting": "b"})
    run()
    assert api.post("/v1/components/web/rollback", {"version": "0.9.0"})[0] == 202
    run()
    web = comp(api)
    assert web["version"] == "0.9.0" and web["spec"]["config"] == {"greeting": "b"}
    assert _served(api)["version"] == 2


def test_rollback_of_a_succeeded_deployment_names_the_component_rollback(api, run, provider):
    """Given a succeeded config deployment, when it is rolled back by its id, then the answer is a
    409 naming the component rollback that restores the revision it replaced, and nothing changes."""
    running(api, run, config_schema=SCHEMA)
    _set(api, {"greeting": "x"})
    run()
    dep = deployment(api)
    status, _, problem = api.post(f"/v1/deployments/{dep['id']}/rollback")
    assert status == 409 and "/v1/components/web/rollback" in problem["detail"]
    assert comp(api)["operation"] is None and _served(api)["version"] == 1


def test_break_glass_rollback_of_a_config_deployment_in_flight_restores_the_config(api, run, provider):
    """Given a config change rolling out as a canary paused for approval-free baking, when it is
    rolled back break-glass, then the deployment ends rolled back, the component runs the previous
    config, and a new version restores it."""
    running(api, run, config_schema=SCHEMA)
    _set(api, {"greeting": "calm"})
    run()
    slow = {"type": "canary", "percentage": 20, "interval_seconds": 3600, "analysis": {"no_data": "pass"}}
    status, _, out = api.call(
        "PUT", "/v1/components/web/config", {"values": {"greeting": "loud"}, "strategy": slow}
    )
    assert status == 200, out
    run()
    dep = deployment(api)
    assert dep["status"] in ("in_progress", "paused"), dep
    status, _, out = api.post(f"/v1/deployments/{dep['id']}/rollback", {"reason": "too loud"})
    assert status == 200, out
    run()
    dep = deployment(api)
    assert dep["status"] == "rolled_back", dep
    assert comp(api)["spec"]["config"] == {"greeting": "calm"}
    body = _served(api)
    assert body["version"] == 3 and body["config"] == {"greeting": "calm"}
    assert _latest_version(api)["kind"] == "reverted"


def test_a_change_written_while_the_rollback_runs_stands_and_rolls_out_after_it(api, run, provider):
    """Given a component rolled back after a succeeded config change, when a new config change is
    written before the rollback ran, then no restoring version overwrites it: once the rollback
    ended, the change rolls out and the component runs it."""
    running(api, run, config_schema=SCHEMA)
    _set(api, {"greeting": "one"})
    run()
    _set(api, {"greeting": "two"})
    run()
    assert api.post("/v1/components/web/rollback")[0] == 202
    out = _set(api, {"greeting": "three"})  # stored and queued behind the rollback
    assert out["version"]["version"] == 3
    run()
    assert comp(api)["spec"]["config"] == {"greeting": "three"}
    body = _served(api)
    assert body["version"] == 3 and body["config"] == {"greeting": "three"}
    kinds = [v["kind"] for v in api.get("/v1/components/web/config/versions")[2]["items"]]
    assert "rollback" not in kinds
