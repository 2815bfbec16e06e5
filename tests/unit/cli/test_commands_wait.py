"""The lifecycle commands against the real API in process: their bodies, and ``--wait`` following
them to success, failure (the fake provider fails) or timeout (nothing is delivered)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from pilothouse.cli.client import Client
from pilothouse.cli.wait import judge, wait_for

CONFIG = {"step": 2, "color": "blue"}


def _body(api, path):
    (req,) = api.sent("POST", path)
    return json.loads(req.content)


def test_deploy_without_wait_returns_at_once(api, cli):
    api.add("greeter")
    result = cli("components", "deploy", "greeter", "--version", "2.0.0")
    assert result.exit_code == 0, result.output
    assert "Deploying" in result.stdout
    assert _body(api, "/v1/components/greeter/deploy") == {"version": "2.0.0"}
    api.working = False  # the job waits in the queue
    assert api.view("greeter")["state"] == "Deploying"


def test_deploy_wait_success_shows_events_and_exits_0(api, cli):
    api.add("greeter")
    result = cli("components", "deploy", "greeter", "--wait")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("deploy.requested") < out.index("deploy.started") < out.index("deploy.succeeded")
    assert "✓ greeter is Running at version 1.0.0" in out


def test_deploy_wait_failure_exits_1_with_reason_and_logs(api, cli):
    api.add("greeter")
    api.provider.broken_versions.add("1.0.0")
    result = cli("components", "deploy", "greeter", "--wait")
    assert result.exit_code == 1
    assert "deploy of greeter failed; it is now Failed" in result.stderr
    assert result.stderr.count("1.0.0 exited at start") == 1  # the reason once, not again and again
    assert "boom" in result.stderr


def test_update_reverted_exits_1_though_running(api, cli):
    api.add("counter", "Running", version="1.0.0")
    api.provider.unhealthy_versions.add("3.0.0")
    result = cli("components", "update", "counter", "--version", "3.0.0", "--wait")
    assert result.exit_code == 1
    assert "update.reverted" in result.stdout
    assert "it is now Running at version 1.0.0" in result.stderr
    assert "unhealthy" in result.stderr


def test_scale_failed_exits_1(api, cli):
    api.add("greeter", "Running", version="1.0.0")
    api.provider.fail["scale"] = "no room for greeter"
    result = cli("components", "scale", "greeter", "3", "--wait")
    assert result.exit_code == 1
    assert "no room for greeter" in result.stderr
    assert api.view("greeter")["replicas"] == 1


@pytest.mark.parametrize("args", [["3"], ["--replicas", "3"], ["-r", "3"]])
def test_scale_takes_replicas_as_argument_or_option(api, cli, args):
    api.add("greeter", "Running", version="1.0.0")
    result = cli("components", "scale", "greeter", *args, "--wait")
    assert result.exit_code == 0, result.output
    assert _body(api, "/v1/components/greeter/scale") == {"replicas": 3}
    assert api.view("greeter")["replicas"] == 3


def test_scale_needs_exactly_one_count(api, cli):
    api.add("greeter", "Running")
    assert cli("components", "scale", "greeter").exit_code == 2
    assert cli("components", "scale", "greeter", "2", "--replicas", "3").exit_code == 2
    assert cli("components", "scale", "greeter", "x").exit_code == 2
    assert api.requests == []


def test_scale_validation_error_exits_1(api, cli):
    api.add("greeter", "Running", scaling={"min": 1, "max": 4})
    result = cli("components", "scale", "greeter", "9")
    assert result.exit_code == 1
    assert "• replicas: must lie between scaling.min 1 and scaling.max 4" in result.stderr


def test_stop_wait_ends_stopped_exit_0(api, cli):
    api.add("greeter", "Running", version="1.0.0", scaling={"min": 1, "max": 5, "replicas": 2})
    result = cli("components", "stop", "greeter", "--wait")
    assert result.exit_code == 0, result.output
    assert "greeter is Stopped" in result.stdout
    assert _body(api, "/v1/components/greeter/stop") == {}


def test_retry_wait(api, cli):
    api.add("greeter", "Failed")
    result = cli("components", "retry", "greeter", "--wait")
    assert result.exit_code == 0, result.output
    assert api.view("greeter")["state"] == "Running"


def test_illegal_command_shows_allowed_commands(api, cli):
    api.add("greeter", "Running")
    result = cli("components", "deploy", "greeter", "--wait")
    assert result.exit_code == 1
    assert "cannot deploy a component in state Running" in result.stderr
    assert result.stderr.count("scale, update, rollback, stop") == 1  # listed once
    assert "allowed in Running: scale, update, rollback, stop" in result.stderr


def test_wait_timeout_exits_1(api, cli):
    api.add("greeter")
    api.working = False
    result = cli("components", "deploy", "greeter", "--wait", "--timeout", "0")
    assert result.exit_code == 1
    assert "timed out after 0s; greeter is still Deploying" in result.stderr


def test_wait_with_json_prints_final_view_on_stdout_and_progress_on_stderr(api, cli):
    api.add("greeter")
    result = cli("components", "deploy", "greeter", "--wait", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "Running"
    assert "deploy.succeeded" in result.stderr


def test_update_set_merges_into_current_config(api, cli):
    api.add("counter", "Running", version="1.0.0", config_schema={"type": "object"}, config=CONFIG)
    result = cli(
        "components", "update", "counter", "--set", "step=5", "--set", "db.host=x", "--set", "tag='007'"
    )
    assert result.exit_code == 0, result.output
    assert _body(api, "/v1/components/counter/update") == {
        "config": {"step": 5, "color": "blue", "db": {"host": "x"}, "tag": "007"}
    }


def test_update_config_file_plus_set_and_version(api, cli, tmp_path):
    api.add("counter", "Running", version="1.0.0", config_schema={"type": "object"}, config=CONFIG)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("step: 3\n")
    result = cli(
        "components",
        "update",
        "counter",
        "--version",
        "2.0.0",
        "--config",
        str(cfg),
        "--set",
        "on=true",
        "--wait",
    )
    assert result.exit_code == 0, result.output
    assert _body(api, "/v1/components/counter/update") == {
        "version": "2.0.0",
        "config": {"step": 3, "on": True},
    }
    assert api.view("counter")["version"] == "2.0.0"
    assert api.view("counter")["spec"]["config"] == {"step": 3, "on": True}


def test_update_needs_something_to_change(api, cli):
    api.add("counter", "Running")
    assert cli("components", "update", "counter").exit_code == 2
    assert cli("components", "update", "counter", "--set", "novalue").exit_code == 2
    assert not api.sent("POST", "/v1/components/counter/update")


# -- wait_for and judge directly ---------------------------------------------------------------------


def test_wait_for_times_out_on_the_clock(api):
    api.add("greeter")
    api.working = False
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += 1.0

    with Client("http://pilothouse.test", api.key) as client:
        view = client.post("/v1/components/greeter/deploy")
        result = wait_for(
            client,
            view,
            "deploy",
            console=Console(quiet=True),
            timeout=5,
            interval=1,
            sleep=sleep,
            clock=lambda: now[0],
        )
    assert result.timed_out and not result.ok
    assert now[0] == 5.0


def test_judge():
    running = {"name": "x", "state": "Running", "last_error": None}
    assert judge("deploy", running, []).ok
    assert not judge("stop", running, []).ok
    assert judge("stop", {**running, "state": "Stopped"}, []).ok
    reverted = [{"type": "update.reverted", "reason": "bad", "logs": ["l"]}]
    result = judge("update", running, reverted)
    assert not result.ok and result.reason == "bad" and result.logs == ["l"]
    failed = judge("deploy", {**running, "state": "Failed", "last_error": {"reason": "r", "logs": []}}, [])
    assert not failed.ok and failed.reason == "r"


def test_ctrl_c_while_waiting_leaves_the_operation_running(api, cli, monkeypatch):

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    from pilothouse.cli import wait

    monkeypatch.setattr(wait, "wait_for", interrupted)  # components imports it when it waits
    api.add("greeter")
    result = cli("components", "deploy", "greeter", "--wait")
    assert result.exit_code == 130
    assert "the deploy of greeter goes on" in result.stderr
