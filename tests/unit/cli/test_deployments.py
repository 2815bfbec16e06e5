"""Deployments in the CLI: --strategy, the live --wait, deployments list/get/watch and their controls,
components rollback, freezes and promotions across environments, against the real API in process
(outcomes come from the fake provider: its metrics fail an analysis, a broken version fails a deploy)."""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console

from pilothouse.cli import deployments as deployments_module
from pilothouse.cli import executions as executions_module
from pilothouse.cli.client import Client
from pilothouse.cli.deployment_follow import changes
from pilothouse.cli.deployment_text import strategy_text
from pilothouse.cli.wait import WaitResult, wait_for, with_deployment


@pytest.fixture
def dapi(api, monkeypatch):
    """The API with every poll of the CLI at once."""
    monkeypatch.setattr(deployments_module, "WATCH_SECONDS", 0)
    monkeypatch.setattr(deployments_module, "WATCH_MISSING_GRACE", 0)
    monkeypatch.setattr(executions_module, "POLL_SECONDS", 0)
    return api


def _body(api, path):
    (req,) = api.sent("POST", path)
    return json.loads(req.content)


def _running(api, name="greeter", version="1.0.0", **fields):
    return api.add(name, "Running", version=version, scaling={"min": 1, "max": 5, "replicas": 2}, **fields)


def _deployment(api, dep_id: str) -> dict:
    return api.call("GET", f"/v1/deployments/{dep_id}")


def _only_deployment(api) -> dict:
    """The one deployment begun after the scene was set (the scene's own first deploys aside)."""
    items = api.call("GET", "/v1/deployments?limit=100")["items"]
    (dep,) = [d for d in items if d["id"] not in api.scene_deployments]
    return dep


def _only_deployment_of(api, component: str) -> dict:
    items = api.call("GET", f"/v1/deployments?component={component}")["items"]
    (dep,) = [d for d in items if d["id"] not in api.scene_deployments]
    return dep


BAD_METRICS = {"requests": 100, "errors": 25}  # an error rate of 0.25: the analysis fails


def _strategy_file(tmp_path, text: str, name: str = "strategy.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return "@" + str(path)


BLUE_GREEN_APPROVAL = "type: blue-green\napproval: true\n"


def _start_update(cli, api, *args: str) -> dict:
    result = cli("components", "update", "greeter", "--version", "2.0.0", *args)
    assert result.exit_code == 0, result.output
    return _only_deployment(api)


def _advance_to(cli, dep: dict, status: str, reads: int = 50) -> dict:
    """Read the deployment through the CLI (each read lets the worker take a step) until ``status``."""
    seen = dep
    for _ in range(reads):
        if seen["status"] == status:
            return seen
        result = cli("deployments", "get", dep["id"], "-o", "json")
        assert result.exit_code == 0, result.output
        seen = json.loads(result.stdout)
    assert seen["status"] == status
    return seen


# -- --strategy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "Canary10Percent5Minutes",
        "Linear10PercentEvery1Minute",
        "AllAtOnce",
        "CodeDeployDefault.LambdaCanary10Percent5Minutes",
        "canary",
        "blue-green",
        "rolling",
        "all-at-once",
        "linear",
    ],
)
def test_deploy_sends_a_preset_or_type_as_strategy(api, cli, value):
    api.add("greeter")
    result = cli("components", "deploy", "greeter", "--strategy", value)
    assert _body(api, "/v1/components/greeter/deploy") == {"strategy": value}
    if value in ("canary", "linear"):  # the type alone lacks its parameters: the server says so
        assert result.exit_code == 1 and "needs percentage and interval_seconds" in result.stderr
    else:
        assert result.exit_code == 0, result.output


def test_strategy_from_a_file_goes_as_an_object(api, cli, tmp_path):
    _running(api)
    ref = _strategy_file(
        tmp_path, "type: canary\npercentage: 20\ninterval_seconds: 60\nanalysis:\n  max_p99_ms: 250\n"
    )
    result = cli("components", "update", "greeter", "--version", "2.0.0", "--strategy", ref)
    assert result.exit_code == 0, result.output
    assert _body(api, "/v1/components/greeter/update") == {
        "version": "2.0.0",
        "strategy": {
            "type": "canary",
            "percentage": 20,
            "interval_seconds": 60,
            "analysis": {"max_p99_ms": 250},
        },
    }


def test_strategy_from_json_file_on_retry(api, cli, tmp_path):
    api.add("greeter", "Failed")
    ref = _strategy_file(tmp_path, '{"type": "rolling", "batch_size": "50%"}', "s.json")
    result = cli("components", "retry", "greeter", "-s", ref)
    assert result.exit_code == 0, result.output
    assert _body(api, "/v1/components/greeter/retry") == {
        "strategy": {"type": "rolling", "batch_size": "50%"}
    }


@pytest.mark.parametrize("value", ["Canary10Percent", "sideways", "", "@", "@/nonexistent/strategy.yaml"])
def test_a_bad_strategy_is_a_usage_error_before_any_request(api, cli, value):
    api.add("greeter")
    result = cli("components", "deploy", "greeter", "--strategy", value)
    assert result.exit_code == 2
    assert api.requests == []


def test_a_strategy_the_server_refuses_shows_the_field(dapi, cli, tmp_path):
    _running(dapi)
    ref = _strategy_file(tmp_path, "type: canary\n")
    result = cli("components", "update", "greeter", "--version", "2.0.0", "--strategy", ref)
    assert result.exit_code == 1
    assert "strategy" in result.stderr and "percentage and interval_seconds" in result.stderr


def test_accepted_deploy_names_its_deployment(dapi, cli):
    dapi.add("greeter")
    result = cli("components", "deploy", "greeter")
    assert result.exit_code == 0, result.output
    dep = _only_deployment(dapi)
    assert f"pilothouse deployments watch {dep['id']}" in result.stdout


# -- --wait follows the deployment ---------------------------------------------------------------------


def test_update_wait_shows_the_deployment_and_succeeds(dapi, cli):
    _running(dapi)
    result = cli(
        "components",
        "update",
        "greeter",
        "--version",
        "2.0.0",
        "--strategy",
        "Canary10Percent5Minutes",
        "--wait",
    )
    assert result.exit_code == 0, result.output
    dep = _only_deployment(dapi)
    out = result.stdout
    assert f"deployment {dep['id']}: in_progress" in out
    assert "step 1 set weight 10%: ✓ succeeded" in out
    assert re.search(r"traffic: 1\.0\.0\S* 90% · 2\.0\.0\S* 10%", out)
    assert "analysis (step 3): pass — 100 req, errors 0.0%" in out
    assert "in_progress → succeeded" in out
    assert (
        out.index("update.requested")
        < out.index("step 4 set weight 100%: ✓ succeeded")
        < out.index("update.succeeded")
    )
    assert "✓ greeter is Running at version 2.0.0" in out
    assert f"deployment {dep['id']} succeeded (Canary10Percent5Minutes)" in out


def test_wait_exits_1_when_the_deployment_rolls_back(dapi, cli):
    _running(dapi)
    dapi.provider.metrics["2.0.0"] = BAD_METRICS
    result = cli(
        "components",
        "update",
        "greeter",
        "--version",
        "2.0.0",
        "--strategy",
        "Canary10Percent5Minutes",
        "--wait",
    )
    assert result.exit_code == 1
    dep = _only_deployment(dapi)
    assert dep["status"] == "rolled_back"
    assert "analysis (step 3): fail" in result.stdout
    assert "error rate 0.250 > 0.05" in result.stdout
    assert "update of greeter failed; it is now Running at version 1.0.0" in result.stderr
    assert (
        f"deployment {dep['id']} ended rolled_back: AnalysisFailed: error rate 0.250 > 0.05" in result.stderr
    )


def test_wait_exits_1_when_a_first_deploy_fails(dapi, cli):
    dapi.add("greeter")
    dapi.provider.broken_versions.add("1.0.0")
    result = cli("components", "deploy", "greeter", "--wait")
    assert result.exit_code == 1
    assert "ended failed" in result.stderr
    assert "it is now Failed" in result.stderr


def test_wait_keeps_polling_while_the_deployment_is_not_there_yet(dapi, cli):
    dapi.add("greeter")
    dapi.idle_reads = 3  # the job (which begins the deployment) waits for three reads
    result = cli("components", "deploy", "greeter", "--wait")
    assert result.exit_code == 0, result.output
    dep = _only_deployment(dapi)
    assert dep["status"] == "succeeded"
    gets = dapi.sent("GET", f"/v1/deployments/{dep['id']}")
    assert len(gets) > 3
    assert f"deployment {dep['id']} succeeded" in result.stdout


def test_wait_without_deployment_records_judges_the_component(api, cli):
    api.add("greeter")
    api.hidden = ("/v1/deployments/",)  # a server without deployment records: every read is a 404
    result = cli("components", "deploy", "greeter", "--wait")
    assert result.exit_code == 0, result.output
    assert "✓ greeter is Running" in result.stdout
    assert [r for r in api.requests if r.url.path.startswith("/v1/deployments/")]  # it did look
    assert "deployment" not in result.stdout


def test_wait_json_prints_the_component_on_stdout(dapi, cli):
    dapi.add("greeter")
    result = cli("components", "deploy", "greeter", "--wait", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["state"] == "Running"
    assert "deployment" in result.stderr


def test_wait_shows_the_approval_gate_and_goes_on_once_approved(dapi):
    _running(dapi)
    console = Console(record=True, width=200)
    with Client("http://pilothouse.test", dapi.key) as client:
        view = client.post(
            "/v1/components/greeter/update",
            {"version": "2.0.0", "strategy": {"type": "blue-green", "approval": True}},
        )
        dep_id = view["operation"]["id"]
        approved = []

        def sleep(_: float) -> None:
            if _deployment(dapi, dep_id)["waiting_for"] == "approval" and not approved:
                approved.append(client.post(f"/v1/deployments/{dep_id}/approve", {"comment": "lgtm"}))

        result = wait_for(client, view, "update", console=console, interval=0, sleep=sleep)
    text = console.export_text()
    assert "⏸ waiting for approval since" in text
    assert f"run: pilothouse deployments approve {dep_id}" in text
    assert "approved by test admin" in text
    assert result.ok and result.deployment["status"] == "succeeded"


def test_wait_timeout_names_the_deployment_status(dapi, cli, tmp_path):
    _running(dapi)
    ref = _strategy_file(tmp_path, BLUE_GREEN_APPROVAL)
    result = cli(
        "components", "update", "greeter", "--version", "2.0.0", "--strategy", ref, "--wait", "--timeout", "0"
    )
    assert result.exit_code == 1
    dep = _only_deployment(dapi)
    assert f"deployment {dep['id']} is" in result.stderr
    assert f"pilothouse deployments watch {dep['id']}" in result.stderr


def test_with_deployment_verdicts():
    running = {"name": "g", "state": "Running", "last_error": None}
    ok = WaitResult(True, running)
    assert with_deployment("update", ok, None).ok
    assert with_deployment("update", WaitResult(True, running), {"id": "d", "status": "succeeded"}).ok
    failed = with_deployment(
        "update", WaitResult(True, running), {"id": "d", "status": "aborted", "error": None}
    )
    assert not failed.ok and failed.reason == "deployment d ended aborted"
    reverted = WaitResult(False, {**running, "last_error": {"reason": "x"}}, reason="x")
    back = with_deployment("rollback", reverted, {"id": "d", "status": "rolled_back"})
    assert back.ok and back.reason is None
    assert not with_deployment(
        "rollback",
        WaitResult(False, {**running, "state": "Failed"}, reason="x"),
        {"id": "d", "status": "failed"},
    ).ok


# -- deployments list / get / events ---------------------------------------------------------------------


def test_list_shows_a_table_and_filters(dapi, cli):
    _running(dapi)
    _running(dapi, "counter", environment="staging")
    assert (
        cli(
            "components",
            "update",
            "greeter",
            "--version",
            "2.0.0",
            "--strategy",
            "Linear10PercentEvery1Minute",
        ).exit_code
        == 0
    )
    assert (
        cli("components", "update", "counter", "--version", "3.0.0", "--strategy", "rolling").exit_code == 0
    )
    dapi.settle()
    status = _only_deployment_of(dapi, "counter")["status"]
    assert status == "succeeded"
    result = cli("deployments", "list")
    assert result.exit_code == 0, result.output
    for text in (
        "ID",
        "COMPONENT",
        "ENV",
        "STRATEGY",
        "STATUS",
        "greeter",
        "counter",
        "1.0.0 → 2.0.0",
        "Linear10PercentEvery1Minute",
        "rolling",
        status,
    ):
        assert text in result.stdout
    assert result.stdout.index("counter") < result.stdout.index("greeter")  # newest first
    result = cli(
        "deployments", "list", "--component", "counter", "--environment", "staging", "--status", status
    )
    assert result.exit_code == 0
    assert "greeter" not in result.stdout and "counter" in result.stdout
    (req,) = [r for r in dapi.requests if r.url.path == "/v1/deployments" and r.url.params.get("component")]
    assert dict(req.url.params) == {
        "component": "counter",
        "environment": "staging",
        "status": status,
        "limit": "50",
    }


def test_list_all_pages_json_and_bad_status(dapi, cli):
    for n in range(3):
        _running(dapi, f"c{n}")
        assert cli("components", "update", f"c{n}", "--version", "2.0.0").exit_code == 0
    result = cli("deployments", "list", "-o", "json", "--limit", "2")
    assert len(json.loads(result.stdout)) == 2 and "more: --cursor " in result.stderr
    result = cli("deployments", "list", "--all", "--limit", "2", "-o", "json")
    updates = [
        d["component"] for d in json.loads(result.stdout)["items"] if d["id"] not in dapi.scene_deployments
    ]
    assert updates == ["c2", "c1", "c0"]
    assert cli("deployments", "list", "--status", "sideways").exit_code == 2
    assert cli("deployments", "list", "--status", "rolled-back").exit_code == 0
    assert cli("deployments", "list", "--status", "failed").stdout.strip() == "no deployments match"


def test_get_shows_steps_traffic_analysis_approvals_and_the_wait(dapi, cli, tmp_path):
    _running(dapi)
    dapi.provider.metrics["2.0.0"] = {"requests": 120, "errors": 0, "p99_ms": 42}
    dep = _start_update(
        cli,
        dapi,
        "--strategy",
        _strategy_file(
            tmp_path,
            "type: custom\nsteps:\n- kind: set_weight\n  weight: 25\n- kind: analysis\n- kind: approval\n",
        ),
    )
    _advance_to(cli, dep, "awaiting_approval")
    result = cli("deployments", "get", dep["id"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in (
        f"deployment  {dep['id']}",
        "greeter (development)",
        "1.0.0 → 2.0.0",
        "custom 5 steps",  # as many as the steps shown: prepare, the three it names, the final shift
        "awaiting_approval",
        "set weight 25%",
        "✓ succeeded",
        "⏸ waiting",
        "○ pending",
        "set weight 100%",
        "traffic",
        "█",
        "75%",
        "25%",
        "analysis",
        "42 ms",
        "pass",
        "waiting for approval since",
        f"run: pilothouse deployments approve {dep['id']}",
    ):
        assert text in out, text
    assert cli("deployments", "approve", dep["id"], "--comment", "ship it").exit_code == 0
    _advance_to(cli, dep, "succeeded")
    out = cli("deployments", "get", dep["id"]).stdout
    assert "✓ approved by test admin (key:" in out and "ship it" in out
    assert "waiting for approval" not in out
    assert json.loads(cli("deployments", "get", dep["id"], "-o", "json").stdout)["status"] == "succeeded"


def test_get_unknown_is_a_404(dapi, cli):
    result = cli("deployments", "get", "nope")
    assert result.exit_code == 1
    assert "Error 404" in result.stderr and "no deployment 'nope'" in result.stderr


def test_events(dapi, cli):
    _running(dapi)
    dep = _start_update(cli, dapi)
    _advance_to(cli, dep, "succeeded")
    result = cli("deployments", "events", dep["id"])
    assert result.exit_code == 0, result.output
    assert "created" in result.stdout and "succeeded" in result.stdout
    items = json.loads(cli("deployments", "events", dep["id"], "-o", "json").stdout)["items"]
    assert items[0]["type"] == "created"


# -- watch ------------------------------------------------------------------------------------------------


def test_watch_exits_0_when_it_succeeds(dapi, cli):
    _running(dapi)
    dep = _start_update(cli, dapi, "--strategy", "Canary10Percent5Minutes")
    result = cli("deployments", "watch", dep["id"])
    assert result.exit_code == 0, result.output
    assert "step 2 pause 5m: ▶ running" in result.stdout and "⏸ baking for 5m" in result.stdout
    assert "step 4 set weight 100%: ✓ succeeded" in result.stdout
    assert "steps" in result.stdout and "traffic" in result.stdout  # the full view at the end
    assert f"✓ deployment {dep['id']} succeeded" in result.stderr


def test_watch_exits_1_when_it_rolls_back(dapi, cli):
    _running(dapi)
    dapi.provider.metrics["2.0.0"] = BAD_METRICS
    dep = _start_update(cli, dapi, "--strategy", "Canary10Percent5Minutes")
    result = cli("deployments", "watch", dep["id"])
    assert result.exit_code == 1
    assert f"✗ deployment {dep['id']} ended rolled_back" in result.stderr
    assert "AnalysisFailed: error rate 0.250 > 0.05" in result.stderr


def test_watch_exits_1_when_it_fails(dapi, cli):
    dapi.add("greeter")
    dapi.provider.broken_versions.add("1.0.0")
    assert cli("components", "deploy", "greeter").exit_code == 0
    dep = _only_deployment(dapi)
    result = cli("deployments", "watch", dep["id"])
    assert result.exit_code == 1
    assert f"✗ deployment {dep['id']} ended failed" in result.stderr
    assert "1.0.0 exited at start" in result.stderr


def test_watch_an_aborted_deployment_exits_1(dapi, cli):
    _running(dapi)
    dep = _start_update(cli, dapi, "--strategy", "Canary10Percent5Minutes")
    assert cli("deployments", "abort", dep["id"], "--reason", "wrong build").exit_code == 0
    result = cli("deployments", "watch", dep["id"], "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "aborted"
    assert "Aborted: wrong build" in result.stderr


def test_watch_times_out_and_a_missing_deployment_is_a_404(dapi, cli, tmp_path):
    _running(dapi)
    dep = _start_update(cli, dapi, "--strategy", _strategy_file(tmp_path, BLUE_GREEN_APPROVAL))
    result = cli("deployments", "watch", dep["id"], "--timeout", "0")
    assert result.exit_code == 1
    assert "timed out after 0s" in result.stderr
    result = cli("deployments", "watch", "ghost")
    assert result.exit_code == 1 and "no deployment 'ghost'" in result.stderr


def test_changes_describes_what_moved():
    old = {
        "id": "d1",
        "status": "in_progress",
        "steps": [{"index": 0, "kind": "prepare", "status": "running"}],
        "weights": {"a": 100},
        "analysis": [],
        "approvals": [],
        "waiting_for": None,
    }
    new = {
        **old,
        "status": "awaiting_approval",
        "steps": [{"index": 0, "kind": "prepare", "status": "succeeded"}],
        "waiting_for": "approval",
        "pending_token": {"kind": "approval", "index": 1, "since": "t"},
    }
    lines = changes(old, new)
    assert any("in_progress" in x and "awaiting_approval" in x for x in lines)
    assert any("step 0 prepare" in x and "succeeded" in x for x in lines)
    assert any("deployments approve d1" in x for x in lines)
    assert changes(new, new) == []


def test_strategy_text():
    assert (
        strategy_text(
            {"type": "canary", "percentage": 10, "interval_seconds": 300, "preset": "Canary10Percent5Minutes"}
        )
        == "Canary10Percent5Minutes"
    )
    assert strategy_text({"type": "canary", "percentage": 20, "interval_seconds": 90}) == "canary 20% / 1m30s"
    assert strategy_text({"type": "blue-green", "approval": True}) == "blue-green approval"
    assert strategy_text(None) == "-"


# -- controls ---------------------------------------------------------------------------------------------


def test_approve_sends_the_comment_with_an_idempotency_key(dapi, cli, tmp_path):
    _running(dapi)
    dep = _start_update(cli, dapi, "--strategy", _strategy_file(tmp_path, BLUE_GREEN_APPROVAL))
    _advance_to(cli, dep, "awaiting_approval")
    result = cli("deployments", "approve", dep["id"], "--comment", "looks good")
    assert result.exit_code == 0, result.output
    assert f"✓ approved deployment {dep['id']} (greeter); it is now in_progress" in result.stdout
    (req,) = dapi.sent("POST", f"/v1/deployments/{dep['id']}/approve")
    assert json.loads(req.content) == {"comment": "looks good"}
    assert req.headers["Idempotency-Key"]
    assert _deployment(dapi, dep["id"])["approvals"][0]["decision"] == "approved"


def test_approve_without_permission_is_a_403(dapi, cli, tmp_path):
    _running(dapi)
    deployer = dapi.call("POST", "/v1/api-keys", {"name": "ci", "role": "deployer"})["key"]
    dep = _start_update(cli, dapi, "--strategy", _strategy_file(tmp_path, BLUE_GREEN_APPROVAL))
    _advance_to(cli, dep, "awaiting_approval")
    result = cli("--api-key", deployer, "deployments", "approve", dep["id"])
    assert result.exit_code == 1
    assert "Error 403" in result.stderr and "deployments:approve" in result.stderr


def test_a_control_that_does_not_fit_is_a_409(dapi, cli):
    _running(dapi)
    dep = _start_update(cli, dapi)
    result = cli("deployments", "approve", dep["id"])
    assert result.exit_code == 1
    assert (
        "Error 409" in result.stderr
        and "is not waiting for an approval: it waits for nothing now" in result.stderr
    )
    _advance_to(cli, dep, "succeeded")
    result = cli("deployments", "abort", dep["id"])
    assert result.exit_code == 1 and "has ended (succeeded)" in result.stderr


def test_reject_rolls_back(dapi, cli, tmp_path):
    _running(dapi)
    dep = _start_update(cli, dapi, "--strategy", _strategy_file(tmp_path, BLUE_GREEN_APPROVAL))
    _advance_to(cli, dep, "awaiting_approval")
    result = cli("deployments", "reject", dep["id"], "--reason", "not today", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status"] == "rolling_back"
    assert _body(dapi, f"/v1/deployments/{dep['id']}/reject") == {"reason": "not today"}
    _advance_to(cli, dep, "rolled_back")


def test_promote_ends_a_pause_and_full_skips_the_rest(dapi, cli, tmp_path):
    _running(dapi)
    dep = _start_update(
        cli,
        dapi,
        "--strategy",
        _strategy_file(
            tmp_path,
            "type: custom\nsteps:\n- kind: set_weight\n  weight: 10\n- kind: pause\n- kind: analysis\n",
        ),
    )
    _advance_to(cli, dep, "paused")
    assert "paused until promoted" in cli("deployments", "get", dep["id"]).stdout
    result = cli("deployments", "promote", dep["id"], "--full")
    assert result.exit_code == 0, result.output
    assert "fully promoted deployment" in result.stdout
    assert _body(dapi, f"/v1/deployments/{dep['id']}/promote") == {"full": True}
    done = _advance_to(cli, dep, "succeeded")
    statuses = [s["status"] for s in done["steps"]]
    assert statuses == ["succeeded", "succeeded", "succeeded", "skipped", "succeeded"]


def test_an_ended_pause_step_does_not_stay_waiting(dapi, cli):
    _running(dapi)
    dep = _start_update(cli, dapi, "--strategy", "Canary10Percent5Minutes")
    done = _advance_to(cli, dep, "succeeded")
    assert done["steps"][2]["kind"] == "pause"
    assert done["steps"][2]["status"] == "succeeded"


def test_promote_without_full_sends_false(dapi, cli):
    _running(dapi)
    dep = _start_update(cli, dapi, "--strategy", "Canary10Percent5Minutes")
    _advance_to(cli, dep, "in_progress")
    for _ in range(50):
        if json.loads(cli("deployments", "get", dep["id"], "-o", "json").stdout)["waiting_for"] == "pause":
            break
    result = cli("deployments", "promote", dep["id"])
    assert result.exit_code == 0, result.output
    assert _body(dapi, f"/v1/deployments/{dep['id']}/promote") == {"full": False}


def test_pause_and_resume(dapi, cli):
    _running(dapi)
    dep = _start_update(cli, dapi, "--strategy", "Canary10Percent5Minutes")
    _advance_to(cli, dep, "in_progress")
    result = cli("deployments", "pause", dep["id"])
    assert result.exit_code == 0, result.output
    _advance_to(cli, dep, "paused")
    out = cli("deployments", "get", dep["id"]).stdout
    assert f"run: pilothouse deployments resume {dep['id']}" in out
    result = cli("deployments", "resume", dep["id"])
    assert result.exit_code == 0, result.output
    assert "it is now in_progress" in result.stdout
    _advance_to(cli, dep, "succeeded")
    assert _body(dapi, f"/v1/deployments/{dep['id']}/pause") == {}


def test_abort_and_break_glass_rollback_send_reasons(dapi, cli):
    _running(dapi)
    _running(dapi, "counter")
    assert cli("components", "update", "greeter", "--version", "2.0.0").exit_code == 0
    assert cli("components", "update", "counter", "--version", "2.0.0").exit_code == 0
    g = _deployment(dapi, dapi.view("greeter")["operation"]["id"])
    c = _deployment(dapi, dapi.view("counter")["operation"]["id"])
    assert cli("deployments", "abort", g["id"]).exit_code == 0
    assert _body(dapi, f"/v1/deployments/{g['id']}/abort") == {}
    result = cli("deployments", "rollback", c["id"], "--reason", "pager")
    assert result.exit_code == 0, result.output
    assert "rolling back deployment" in result.stdout and "rolling_back" in result.stdout
    assert _body(dapi, f"/v1/deployments/{c['id']}/rollback") == {"reason": "pager"}
    _advance_to(cli, g, "aborted")
    _advance_to(cli, c, "rolled_back")


# -- components rollback ----------------------------------------------------------------------------------


def test_component_rollback_mid_deployment_rolls_that_back(dapi, cli):
    _running(dapi)
    dep = _start_update(cli, dapi, "--strategy", "Canary10Percent5Minutes")
    result = cli("components", "rollback", "greeter", "--wait")
    assert result.exit_code == 0, result.output
    dep = _deployment(dapi, dep["id"])
    assert dep["status"] == "rolled_back"
    assert dep["abort_requested"]["break_glass"]
    assert _body(dapi, "/v1/components/greeter/rollback") == {}
    assert dapi.view("greeter")["version"] == "1.0.0"


def test_component_rollback_to_the_previous_version(dapi, cli):
    _running(dapi)
    assert cli("components", "update", "greeter", "--version", "2.0.0", "--wait").exit_code == 0
    result = cli("components", "rollback", "greeter", "--wait")
    assert result.exit_code == 0, result.output
    assert dapi.view("greeter")["version"] == "1.0.0"
    assert "✓ greeter is Running at version 1.0.0" in result.stdout


def test_component_rollback_to_a_named_version_and_without_one(dapi, cli):
    _running(dapi)
    result = cli("components", "rollback", "greeter")
    assert result.exit_code == 1 and "no previous version" in result.stderr
    result = cli("components", "rollback", "greeter", "--version", "0.9.0")
    assert result.exit_code == 0, result.output
    assert [json.loads(r.content) for r in dapi.sent("POST", "/v1/components/greeter/rollback")][-1] == {
        "version": "0.9.0"
    }


# -- freezes ----------------------------------------------------------------------------------------------


def test_freeze_refuses_deploys_until_unfrozen(dapi, cli):
    _running(dapi)
    result = cli("freeze", "--component", "greeter", "--reason", "incident 42")
    assert result.exit_code == 0, result.output
    assert _body(dapi, "/v1/freezes") == {"scope": "component", "target": "greeter", "reason": "incident 42"}
    result = cli("components", "update", "greeter", "--version", "2.0.0")
    assert result.exit_code == 1
    assert "Error 409" in result.stderr and "is frozen: incident 42" in result.stderr
    result = cli("freezes")
    assert "SCOPE" in result.stdout and "incident 42" in result.stdout and "greeter" in result.stdout
    assert json.loads(cli("freezes", "-o", "json").stdout)["items"][0]["target"] == "greeter"
    result = cli("unfreeze", "--component", "greeter")
    assert result.exit_code == 0, result.output
    assert dapi.sent("DELETE", "/v1/freezes/component/greeter")
    assert cli("freezes").stdout.strip() == "nothing is frozen"
    assert cli("components", "update", "greeter", "--version", "2.0.0").exit_code == 0


def test_freeze_an_environment(dapi, cli):
    result = cli("freeze", "--environment", "production", "--reason", "holidays", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scope"] == "environment"
    result = cli("unfreeze", "-e", "staging")
    assert result.exit_code == 1 and "is not frozen" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["freeze", "--reason", "x"],
        ["freeze", "-c", "a", "-e", "b", "--reason", "x"],
        ["freeze", "-c", "a"],
        ["unfreeze"],
        ["unfreeze", "-c", "a", "-e", "b"],
    ],
)
def test_freeze_needs_one_target_and_a_reason(dapi, cli, args):
    assert cli(*args).exit_code == 2
    assert dapi.requests == []


# -- promotions -------------------------------------------------------------------------------------------


def test_promote_starts_a_promotion(dapi, cli):
    _running(dapi, "web-staging", environment="staging")
    _running(dapi, "web-prod", environment="production")
    result = cli(
        "promote", "--from", "web-staging", "--to", "web-prod", "--strategy", "Canary10Percent5Minutes"
    )
    assert result.exit_code == 0, result.output
    assert _body(dapi, "/v1/promotions") == {
        "source": "web-staging",
        "target": "web-prod",
        "strategy": "Canary10Percent5Minutes",
    }
    assert "promoting web-staging → web-prod" in result.stdout
    assert "pilothouse executions describe pilothouse-promote-environment promo-" in result.stdout


def test_promote_wait_exit_codes(dapi, cli):
    _running(dapi, "a", environment="staging")
    _running(dapi, "b", "0.9.0", environment="production")
    result = cli("promote", "--from", "a", "--to", "b", "--wait")
    assert result.exit_code == 0, result.output
    assert "✓ promoted a → b" in result.stdout
    # the promotion's callback is answered by the deployment it starts, not by the user
    assert "tasks success" not in result.stdout
    dep_id = dapi.call("GET", "/v1/deployments?component=b&limit=1")["items"][0]["id"]
    assert f"waiting for the deployment {dep_id} of b" in result.stdout
    executions = dapi.call("GET", "/v1/workflows/pilothouse-promote-environment/executions")["items"]
    (name,) = [e["name"] for e in executions]
    assert dapi.sent("GET", f"/v1/workflows/pilothouse-promote-environment/executions/{name}")
    # b now runs a's version: a second promotion has nothing to do and fails
    result = cli("promote", "--from", "a", "--to", "b", "--wait", "-o", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "FAILED"
    assert "promotion promo-" in result.stderr and "FAILED" in result.stderr


def test_hints_name_the_program_the_user_ran(dapi, cli, monkeypatch):
    from pilothouse.cli import prog

    dapi.add("greeter")
    monkeypatch.setenv("PILOTHOUSE_PROG", "./pilothouse")
    result = cli("components", "deploy", "greeter")
    assert result.exit_code == 0, result.output
    assert "watch it with: ./pilothouse deployments watch" in result.stdout
    monkeypatch.delenv("PILOTHOUSE_PROG")
    monkeypatch.setattr(prog.sys, "argv", [".venv/bin/pilothouse"])
    assert prog.program() == ".venv/bin/pilothouse"
    monkeypatch.setattr(prog.sys, "argv", ["/usr/bin/python3"])
    assert prog.program() == "pilothouse"


def test_promote_of_an_unknown_component_is_a_404(dapi, cli):
    result = cli("promote", "--from", "nope", "--to", "other")
    assert result.exit_code == 1 and "no component named 'nope'" in result.stderr
