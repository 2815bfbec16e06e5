"""``pilothouse systems …`` against the real API in process: create, deploy --wait with live
progress per member, get, update refused and rolled back, stop, delete."""

from __future__ import annotations

import json

import pytest

from tests.support.specs import spec

SYSTEM_YAML = """\
name: shop
max_parallel: 2
components:
  - {name: db}
  - {name: api, strategy: all-at-once}
  - {name: web, depends_on: [api]}
"""


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    from pilothouse.cli import systems

    monkeypatch.setattr(systems, "POLL_SECONDS", 0)


def _register(api, cli, tmp_path) -> None:
    for name, deps in {"db": [], "api": ["db"], "web": []}.items():
        api.call("POST", "/v1/components", spec(name, dependencies=deps))
    path = tmp_path / "shop.yaml"
    path.write_text(SYSTEM_YAML)
    result = cli("systems", "create", str(path))
    assert result.exit_code == 0, result.output
    assert "system shop registered" in result.stdout


def test_deploy_wait_prints_each_member_step_and_ends_with_the_table(api, cli, tmp_path):
    """Given a registered system, `systems deploy --wait` prints each member's step as it changes
    (db before api before web), exits 0 and shows every member Running on 1.0.0."""
    _register(api, cli, tmp_path)
    result = cli("systems", "deploy", "shop", "--wait")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "succeeded" in line]
    assert [line.split()[1] for line in lines] == ["db", "api", "web"]
    assert "1.0.0" in lines[0]
    assert "rollout" in result.stdout and "succeeded" in result.stdout
    got = cli("systems", "get", "shop", "-o", "json")
    view = json.loads(got.stdout)
    assert view["version_set"] == {"db": "1.0.0", "api": "1.0.0", "web": "1.0.0"}
    assert "shop" in cli("systems", "list").stdout


def test_failed_update_exits_1_and_shows_the_rollback(api, cli, tmp_path):
    """Given a deployed system whose web cannot start 2.0.0, `systems update --wait` shows web
    failing and api rolling back, and exits 1; the versions are back to 1.0.0."""
    _register(api, cli, tmp_path)
    assert cli("systems", "deploy", "shop", "--wait").exit_code == 0
    api.provider.broken_versions.add("2.0.0")
    api.provider.broken_versions.discard("1.0.0")
    result = cli("systems", "update", "shop", "--version", "api=1.1.0", "--version", "web=2.0.0", "--wait")
    assert result.exit_code == 1, result.output
    assert "web failed" in result.stderr and "api rolled_back" in result.stderr
    view = json.loads(cli("systems", "get", "shop", "-o", "json").stdout)
    assert view["version_set"]["api"] == "1.0.0" and view["rollout"]["status"] == "rolled_back"


def test_bad_version_pairs_and_stop_delete(api, cli, tmp_path):
    """--version without '=' is a usage error (exit 2); stop --wait stops all; delete forgets."""
    _register(api, cli, tmp_path)
    assert cli("systems", "update", "shop", "--version", "api").exit_code == 2
    assert cli("systems", "deploy", "shop", "--wait").exit_code == 0
    result = cli("systems", "stop", "shop", "--wait")
    assert result.exit_code == 0, result.output
    assert {
        m["state"] for m in json.loads(cli("systems", "get", "shop", "-o", "json").stdout)["members"]
    } == {"Stopped"}
    assert cli("systems", "delete", "shop").exit_code == 0
    assert cli("systems", "get", "shop").exit_code != 0
