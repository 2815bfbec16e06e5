"""Contexts in the user's config dir, short deployment ids / a component's latest deployment, and the
shell-completion functions, against the real API in process."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest
import typer

from pilothouse.cli import completion, userconfig
from pilothouse.cli.client import ApiError, Client
from pilothouse.cli.main import app
from pilothouse.cli.refs import resolve_deployment

SECRET = "ph_0123456789ab_s3cr3t-value-that-is-long"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("PILOTHOUSE_CONTEXT", raising=False)
    return tmp_path / "cfg" / "pilothouse"


# -- contexts ------------------------------------------------------------------------------------------


def test_set_context_stores_0600_in_a_0700_dir_and_never_prints_the_key(cli, home):
    result = cli("config", "set-context", "prod", "--url", "https://ph.example", "--key", SECRET)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "s3cr3t" not in result.output
    assert "ph_0123456789ab_****" in result.output
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(home / "config.yaml").st_mode) == 0o600
    assert cli("config", "current-context").stdout.strip() == "prod"  # the first one becomes current
    listed = cli("config", "get-contexts", "-o", "json")
    assert SECRET not in listed.stdout
    body = json.loads(listed.stdout)
    assert body["current_context"] == "prod"
    assert body["contexts"] == [
        {"name": "prod", "url": "https://ph.example", "api_key": "ph_0123456789ab_****", "current": True}
    ]
    table = cli("config", "get-contexts")
    assert "*" in table.stdout and SECRET not in table.stdout


def test_use_context_and_errors(cli, home):
    assert cli("config", "current-context").exit_code == 1
    assert cli("config", "set-context", "a", "--url", "http://127.0.0.1:1").exit_code == 0
    assert cli("config", "set-context", "b", "--url", "http://127.0.0.1:2").exit_code == 0
    assert cli("config", "current-context").stdout.strip() == "a"
    assert cli("config", "use-context", "b").exit_code == 0
    assert cli("config", "current-context").stdout.strip() == "b"
    missing = cli("config", "use-context", "nope")
    assert missing.exit_code == 2 and "no context 'nope'" in " ".join(missing.output.split())
    assert cli("config", "set-context", "new-without-url").exit_code == 2
    assert cli("config", "set-context", "bad name!", "--url", "http://x").exit_code == 2
    assert cli("config", "set-context", "c", "--url", "ftp://x").exit_code == 2
    assert cli("config", "delete-context", "b").exit_code == 0
    assert cli("config", "current-context").exit_code == 1


def test_the_current_context_is_used_and_env_flags_and_context_flag_win(api, cli, home, monkeypatch):
    api.add("greeter")
    monkeypatch.delenv("PILOTHOUSE_API_KEY")
    monkeypatch.delenv("PILOTHOUSE_URL")
    assert (
        cli("config", "set-context", "local", "--url", "http://pilothouse.test", "--key", api.key).exit_code
        == 0
    )
    result = cli("components", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    assert api.requests[-1].headers["Authorization"] == f"Bearer {api.key}"
    # the environment wins over the current context
    monkeypatch.setenv("PILOTHOUSE_API_KEY", "ph_000000000000_wrong-but-long-enough")
    assert cli("components", "list").exit_code == 1
    # --context wins over the environment; --api-key over everything
    assert cli("--context", "local", "components", "list").exit_code == 0
    assert (
        cli("--context", "local", "--api-key", "ph_1_nope-nope-nope-nope", "components", "list").exit_code
        == 1
    )
    unknown = cli("--context", "nope", "components", "list")
    assert unknown.exit_code == 2 and "no context 'nope'" in " ".join(unknown.output.split())


def test_concurrent_set_context_loses_nothing_and_never_tears_the_file(home):
    """Eight threads each add their own contexts at once; every one is there and the file parses."""

    def add(n: int) -> None:
        for i in range(5):
            name = f"t{n}-{i}"
            userconfig.change(
                lambda c, name=name: c.contexts.__setitem__(name, userconfig.Context(name, "http://x"))
            )

    threads = [threading.Thread(target=add, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    config = userconfig.load()
    assert len(config.contexts) == 40
    assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]


# -- short ids and the latest deployment -------------------------------------------------------------


def _update(api, cli, version: str) -> dict:
    result = cli("components", "update", "greeter", "--version", version)
    assert result.exit_code == 0, result.output
    return api.call("GET", "/v1/deployments?component=greeter&limit=1")["items"][0]


def test_a_deployment_by_component_name_prefix_or_tail(api, cli):
    api.add("greeter", "Running", version="1.0.0")
    dep = _update(api, cli, "2.0.0")
    with Client("http://pilothouse.test", api.key) as client:
        assert resolve_deployment(client, dep["id"]) == dep["id"]
        assert resolve_deployment(client, "greeter") == dep["id"]
        tail = dep["id"].split("-", 1)[1]
        assert resolve_deployment(client, tail[:6]) == dep["id"]
        with pytest.raises(ApiError) as missing:
            resolve_deployment(client, "zzzz-nothing")
        assert missing.value.status == 404
    result = cli("deployments", "get", "greeter", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == dep["id"]


def test_an_ambiguous_prefix_is_a_clear_error(api, cli):
    api.add("greeter", "Running", version="1.0.0")
    api.add("other", "Running", version="1.0.0")
    ids = [d["id"] for d in api.call("GET", "/v1/deployments?limit=100")["items"]]
    assert len(ids) >= 2
    common = os.path.commonprefix(ids)
    result = cli("deployments", "get", common)
    assert result.exit_code == 1
    assert "Ambiguous deployment id" in result.stderr
    assert "give more of the id" in result.stderr


def test_watch_of_a_missing_deployment_is_a_404_at_once(api, cli):
    result = cli("deployments", "watch", "ghost")
    assert result.exit_code == 1 and "no deployment 'ghost'" in result.stderr
    # one read of the id, one of the component's deployments, the listing: no polling
    assert len([r for r in api.requests if r.method == "GET"]) <= 4


# -- completion --------------------------------------------------------------------------------------


def _ctx() -> typer.Context:
    import typer.main

    command = typer.main.get_command(app)
    return typer.Context(command, info_name="pilothouse")


def test_completion_of_component_names_and_deployments(api, cli):
    api.add("greeter", "Running", version="1.0.0")
    api.add("green-room")
    api.add("other")
    ctx = _ctx()
    assert sorted(completion.complete_component(ctx, "gre")) == ["green-room", "greeter"]
    assert completion.complete_component(ctx, "x") == []
    dep = _update(api, cli, "2.0.0")
    offered = completion.complete_deployment(ctx, "")
    values = [v for v, _help in offered]
    assert "greeter" in values and dep["id"] in values
    assert [v for v, _ in completion.complete_deployment(ctx, dep["id"][:10])][0].startswith(dep["id"][:10])


def test_completion_is_quiet_when_the_api_cannot_be_reached(monkeypatch, home):
    from pilothouse.cli import client as client_module

    monkeypatch.setattr(client_module, "TRANSPORT", None)
    monkeypatch.setenv("PILOTHOUSE_URL", "http://127.0.0.1:9")
    assert completion.complete_component(_ctx(), "") == []
