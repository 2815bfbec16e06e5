"""The configuration manager through the functions of template.yaml (issue 13): layering, schema
validation with JSON paths, versions, diff, rollback, config-only deployments, watches."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support import deploying
from tests.support.deploying import comp, deployment, running, spec
from tests.support.fakes import RevisionFake

services, run = deploying.services, deploying.run

SCHEMA = {
    "type": "object",
    "properties": {
        "port": {"type": "integer", "default": 8080},
        "log_level": {"enum": ["debug", "info", "warning"], "default": "info"},
        "db": {
            "type": "object",
            "properties": {"host": {"type": "string", "default": "localhost"}, "pool": {"type": "integer"}},
        },
        "greeting": {"type": "string"},
    },
    "additionalProperties": False,
}


class ConfigFake(RevisionFake):
    """Revisions whose metrics follow their config: a config with ``"bad": true`` errors."""

    def __init__(self) -> None:
        super().__init__()
        self.configs: dict[str, dict] = {}

    def deploy(self, release):
        placement = super().deploy(release)
        self.configs[placement.details["stable"]] = dict(release.config)
        return placement

    def prepare(self, current, release):
        placement = super().prepare(current, release)
        self.configs[placement.details["candidate"]] = dict(release.config)
        return placement

    def read_metrics(self, placement, revision, window_seconds):
        from pilothouse.providers.base import Metrics

        bad = self.configs.get(revision, {}).get("greeting") == "bad"
        return Metrics(
            requests=100,
            errors=40 if bad else 0,
            error_rate=0.4 if bad else 0.0,
            p99_ms=20.0,
            window_seconds=window_seconds,
            alarms_in_alarm=(),
        )


@pytest.fixture
def provider():
    return ConfigFake()


@pytest.fixture(autouse=True)
def _fresh_cache():
    from pilothouse.services import config_watch

    config_watch.clear()
    yield
    config_watch.clear()


def put(api, path, body, **kw):
    return api.call("PUT", path, body, **kw)


def resolved(api, name="web", query=""):
    status, headers, body = api.get(f"/v1/components/{name}/config", query=query)
    assert status == 200, body
    return body


def test_layers_resolve_in_order(api):
    """Given schema defaults, a shared set, environment overrides and the component's own, when the
    config is read, then each key comes from the strongest layer that sets it."""
    assert api.post("/v1/components", spec("web", config_schema=SCHEMA))[0] == 201
    assert put(api, "/v1/config-sets/base", {"values": {"log_level": "debug", "db": {"pool": 5}}})[0] == 200
    assert put(api, "/v1/environments/development/config", {"values": {"db": {"pool": 10}}})[0] == 200
    status, _, out = put(api, "/v1/components/web/config", {"values": {"port": 9000}, "includes": ["base"]})
    assert status == 200, out
    assert out["deployment"] == {"status": "kept_for_next_deploy"}
    body = resolved(api)
    assert body["config"] == {"port": 9000, "log_level": "debug", "db": {"host": "localhost", "pool": 10}}
    assert body["sources"] == {"set:base": 1, "environment:development": 1}
    # the environment's change reached web first (a version of its own), then web's own change
    kinds = [v["kind"] for v in api.get("/v1/components/web/config/versions")[2]["items"]]
    assert body["version"] == 2 and kinds == ["set", "propagated"]
    # the spec's config is what the next deploy runs
    assert comp(api)["spec"]["config"] == body["config"]


def test_invalid_change_names_every_path_and_stores_nothing(api):
    """Given a schema, when a change breaks it in two places, then 422 names both JSON paths and
    no version is written."""
    api.post("/v1/components", spec("web", config_schema=SCHEMA))
    status, _, problem = put(api, "/v1/components/web/config", {"values": {"port": "x", "db": {"pool": "y"}}})
    assert status == 422, problem
    assert [e["field"] for e in problem["errors"]] == ["$.db.pool", "$.port"]
    assert api.get("/v1/components/web/config/versions")[2]["items"] == []
    status, _, problem = put(api, "/v1/components/web/config", {"values": {"nope": 1}})
    assert status == 422 and problem["errors"][0]["field"] == "$"
    # a shared set that would break a component that includes it is refused too
    assert put(api, "/v1/components/web/config", {"values": {}, "includes": []})[0] == 200
    put(api, "/v1/config-sets/base", {"values": {"port": 1}})
    assert put(api, "/v1/components/web/config", {"includes": ["base"]})[0] == 200
    status, _, problem = put(api, "/v1/config-sets/base", {"values": {"port": "eighty"}})
    assert status == 422 and problem["errors"][0]["field"] == "component:web@development:$.port"
    assert api.get("/v1/config-sets/base")[2]["version"] == 1


def test_versions_diff_and_rollback(api):
    """Given three versions, diff names what changed and rollback writes a fourth with the first's
    content; every version keeps its author and message."""
    api.post("/v1/components", spec("web", config_schema=SCHEMA))
    put(api, "/v1/components/web/config", {"values": {"greeting": "hi"}, "message": "first"})
    put(api, "/v1/components/web/config", {"values": {"greeting": "hello", "port": 81}, "message": "second"})
    put(api, "/v1/components/web/config", {"values": {"port": 82}, "merge": True, "message": "third"})
    diff = api.get("/v1/components/web/config/diff", query="from_version=1&to_version=3")[2]
    assert diff["changes"] == [
        {"path": "$.port", "op": "changed", "from": 8080, "to": 82},
        {"path": "$.greeting", "op": "changed", "from": "hi", "to": "hello"},
    ]
    status, _, out = api.post("/v1/components/web/config/rollback", {"version": 1})
    assert status == 200 and out["version"]["version"] == 4 and out["version"]["restored_from"] == 1
    history = api.get("/v1/components/web/config/versions")[2]["items"]
    assert [(v["version"], v["kind"], v["message"]) for v in history] == [
        (4, "rollback", "rollback to version 1"),
        (3, "set", "third"),
        (2, "set", "second"),
        (1, "set", "first"),
    ]
    assert all(v["author"].startswith("key:") and v["created_at"] for v in history)
    assert resolved(api)["config"]["greeting"] == "hi"
    assert api.get("/v1/components/web/config/diff", query="from_version=1&to_version=9")[0] == 404
    # a stale base_version is a conflict, nothing written
    status, _, problem = put(api, "/v1/components/web/config", {"values": {}, "base_version": 2})
    assert status == 409 and problem["version"] == 4


def test_import_yaml_json_and_env(api):
    """Given documents in each format, when imported, then they become versions; a broken one is
    a 422 on content."""
    api.post("/v1/components", spec("web", config_schema=SCHEMA))
    yml = "port: 7000\ndb:\n  pool: 3\n"
    assert put(api, "/v1/components/web/config", {"content": yml, "format": "yaml"})[0] == 200
    assert resolved(api)["config"]["db"] == {"host": "localhost", "pool": 3}
    env = "# comment\nPORT=7001\nDB__HOST='db.internal'\nexport LOG_LEVEL=warning\n"
    assert put(api, "/v1/components/web/config", {"content": env, "format": "env"})[0] == 200
    cfg = resolved(api)["config"]
    assert (cfg["port"], cfg["db"]["host"], cfg["log_level"]) == (7001, "db.internal", "warning")
    assert put(api, "/v1/components/web/config", {"content": '{"port": 7002}', "format": "json"})[0] == 200
    status, _, problem = put(api, "/v1/components/web/config", {"content": "[1, 2]", "format": "json"})
    assert status == 422 and problem["errors"][0]["field"] == "content"
    history = api.get("/v1/components/web/config/versions")[2]["items"]
    assert [v["kind"] for v in history] == ["import", "import", "import"]


def test_viewer_reads_but_cannot_change(api, services):
    """Given a viewer key, reads answer and a change is 403 (nothing stored)."""
    from pilothouse.services.keys import create_key

    api.post("/v1/components", spec("web"))
    viewer, _ = create_key(services, name="v", role="viewer", created_by="test")
    assert api.get("/v1/components/web/config", key=viewer)[0] == 200
    assert put(api, "/v1/components/web/config", {"values": {"a": 1}}, key=viewer)[0] == 403
    assert put(api, "/v1/config-sets/x", {"values": {"a": 1}}, key=viewer)[0] == 403
    assert api.get("/v1/components/web/config", key=None)[0] == 401
    assert api.get("/v1/components/web/config/versions")[2]["items"] == []


def test_etag_and_304(api):
    """Given a read's ETag, the same read with If-None-Match is 304; after a change it is 200."""
    api.post("/v1/components", spec("web"))
    status, headers, _ = api.get("/v1/components/web/config")
    etag = headers["etag"]
    status, headers, body = api.get("/v1/components/web/config", headers={"if-none-match": etag})
    assert status == 304 and body is None and headers["etag"] == etag
    put(api, "/v1/components/web/config", {"values": {"a": 1}})
    status, headers, body = api.get("/v1/components/web/config", headers={"if-none-match": etag})
    assert status == 200 and headers["etag"] != etag and body["config"] == {"a": 1}


def test_long_poll_returns_within_a_second_of_a_change(api):
    """Given a watch waiting for a version after 1, when version 2 is written 0.5 s later, then the
    watch answers it within a second of the write (and an unchanged watch times out with its own)."""
    api.post("/v1/components", spec("web"))
    put(api, "/v1/components/web/config", {"values": {"a": 1}})
    out: dict = {}

    def watch():
        out["answer"] = api.get("/v1/components/web/config", query="wait=20&after_version=1")
        out["at"] = time.monotonic()

    waiter = threading.Thread(target=watch)
    waiter.start()
    time.sleep(0.5)
    assert "answer" not in out
    written = time.monotonic()
    put(api, "/v1/components/web/config", {"values": {"a": 2}})
    waiter.join(10)
    status, _, body = out["answer"]
    assert status == 200 and body["version"] == 2 and body["config"] == {"a": 2}
    assert out["at"] - written < 1.0
    started = time.monotonic()
    status, _, body = api.get("/v1/components/web/config", query="wait=1&after_version=2")
    assert status == 200 and body["version"] == 2 and time.monotonic() - started >= 0.9


def test_config_change_of_a_running_component_is_a_deployment(api, run, provider):
    """Given a Running component, a config change starts an update deployment naming the config
    version; when it succeeds the component runs the new config."""
    running(api, run, config_schema=SCHEMA)
    status, _, out = put(api, "/v1/components/web/config", {"values": {"greeting": "hello"}})
    assert status == 200 and out["deployment"]["status"] == "started"
    run()
    dep = deployment(api)
    assert dep["status"] == "succeeded" and dep["config_version"] == 1
    assert dep["config"]["greeting"] == "hello"
    assert comp(api)["spec"]["config"]["greeting"] == "hello"
    assert provider.configs[max(provider.configs)]["greeting"] == "hello"


def test_config_only_canary_rolled_back_by_analysis_restores_the_config(api, run, provider):
    """Given a Running component, a canary config change whose revision fails its analysis is
    rolled back; the stored config goes back to the previous version (a new version says so)."""
    running(api, run, config_schema=SCHEMA)
    put(api, "/v1/components/web/config", {"values": {"greeting": "good"}})
    run()
    assert deployment(api)["status"] == "succeeded"
    canary = {"type": "canary", "percentage": 10, "interval_seconds": 0, "analysis": {"max_error_rate": 0.05}}
    status, _, out = put(
        api, "/v1/components/web/config", {"values": {"greeting": "bad"}, "strategy": canary}
    )
    assert status == 200 and out["version"]["version"] == 2
    run()
    dep = deployment(api)
    assert dep["status"] == "rolled_back" and dep["config_version"] == 2, dep
    assert dep["analysis"][0]["verdict"] == "fail"
    web = comp(api)
    assert web["state"] == "Running" and web["spec"]["config"]["greeting"] == "good"
    body = resolved(api)
    assert body["version"] == 3 and body["config"]["greeting"] == "good"
    latest = api.get("/v1/components/web/config/versions", query="limit=1")[2]["items"][0]
    assert (
        latest["kind"] == "reverted" and latest["restored_from"] == 1 and latest["deployment_id"] == dep["id"]
    )


def test_environment_change_propagates_to_running_components(api, run, provider):
    """Given two Running components in development, an environment override reaches both, each as
    a version of its own and a deployment."""
    running(api, run, "web")
    running(api, run, "api")
    status, _, out = put(api, "/v1/environments/development/config", {"values": {"region": "eu"}})
    assert status == 200, out
    assert sorted(c["component"] for c in out["components"]) == ["api", "web"]
    run()
    for name in ("api", "web"):
        assert comp(api, name)["spec"]["config"] == {"region": "eu"}
        assert resolved(api, name)["config"] == {"region": "eu"}
        assert deployment(api, name)["config_version"] == 1


def test_control_plane_variables_are_the_strongest_layer(monkeypatch, env):
    """Given PILOTHOUSE_CONFIG_WEB__DB__POOL=7, the served config of web has db.pool 7 over the
    stored layers (and another component's variable does not reach it)."""
    from pilothouse.services import components, config, config_watch
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services

    monkeypatch.setenv("PILOTHOUSE_CONFIG_WEB__DB__POOL", "7")
    monkeypatch.setenv("PILOTHOUSE_CONFIG_API__X", "1")
    s = Services(get_settings())
    components.register(s, components.parse_spec(spec("web", config_schema=SCHEMA)), actor="test")
    config.set_config(s, "web", values={"db": {"pool": 3, "host": "h"}}, message="m", actor="test")
    assert config_watch.read(s, "web", "development").body["config"]["db"] == {"host": "h", "pool": 7}


def test_a_change_during_a_deployment_is_queued_and_rolled_out_after_it(api, run, provider, clock):
    """Given a config deployment paused mid-way, a second change is stored and queued; when the
    first deployment ends, the newest version rolls out by itself and the component runs it."""
    running(api, run, config_schema=SCHEMA)
    slow = {"type": "canary", "percentage": 20, "interval_seconds": 60, "analysis": {"no_data": "pass"}}
    put(api, "/v1/components/web/config", {"values": {"greeting": "first"}, "strategy": slow})
    run()
    assert comp(api)["state"] == "Updating"
    status, _, out = put(api, "/v1/components/web/config", {"values": {"greeting": "second"}})
    assert status == 200 and out["deployment"]["status"] == "queued", out
    clock.advance(61)
    run()
    clock.advance(61)
    run()
    web = comp(api)
    assert web["state"] == "Running" and web["spec"]["config"]["greeting"] == "second", web
    dep = deployment(api)
    assert dep["config_version"] == 2 and dep["status"] == "succeeded" and dep["initiated_by"] == "system"


def test_a_rollout_its_writer_never_started_is_done_by_the_sweep(api, run, provider, services, clock):
    """Given a Running component and a version stored by a writer that died before starting its
    deployment, the next sweep (30 s later) rolls it out; settled rollouts leave no marker."""
    from pilothouse.repositories.config import component_scope
    from pilothouse.services import config
    from pilothouse.services.maintenance import sweep

    running(api, run, config_schema=SCHEMA)
    put(api, "/v1/components/web/config", {"values": {"greeting": "one"}})
    run()
    assert config.repo(services).pending() == []
    scope = component_scope("web", "development")
    head = config.repo(services).head(scope)
    resolved, sources = config.resolve(services, comp(api)["spec"], "development", [], {"greeting": "two"})
    config._append(  # what set_config stores before its rollout: the writer dies here
        services,
        head,
        scope,
        values={"greeting": "two"},
        resolved=resolved,
        sources=sources,
        kind="set",
        actor="key:test",
        message="m",
    )
    assert [m.data["version"] for m in config.repo(services).pending()] == [2]
    assert "config_rollouts" not in sweep(services)  # not yet: the writer may still be at it
    clock.advance(31)
    assert sweep(services)["config_rollouts"] == [scope]
    run()
    assert comp(api)["spec"]["config"]["greeting"] == "two" and deployment(api)["config_version"] == 2
    assert config.repo(services).pending() == []


def test_an_update_with_a_whole_config_becomes_a_version(api, run, provider):
    """Given a Running component, POST .../update with a config deploys it (as before) and, once
    it succeeded, the config it runs is a version (kind update) the watch serves."""
    running(api, run, config_schema=SCHEMA)
    status, _, _ = api.post("/v1/components/web/update", {"config": {"greeting": "direct"}})
    assert status == 202
    run()
    body = resolved(api)
    assert body["config"] == {"greeting": "direct"} and body["version"] == 1
    latest = api.get("/v1/components/web/config/versions")[2]["items"][0]
    assert latest["kind"] == "update" and latest["deployment_id"] == deployment(api)["id"]
