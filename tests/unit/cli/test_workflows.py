"""``workflows``, ``executions`` and ``tasks``: request bodies, output, exit codes, against the real API
in process (executions run on the embedded engine; a Task calls a test operation)."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from pilothouse.cli import executions as executions_module
from pilothouse.cli.client import Client
from tests.support.inprocess import task_operation

DEFINITION = {"StartAt": "Prepare", "States": {"Prepare": {"Type": "Pass", "End": True}}}

#: the executions' workflow: Prepare, then Work fails when the input says so, or ends with done
ORDERS = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Next": "Work"},
        "Work": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.fail", "IsPresent": True, "Next": "Broken"}],
            "Default": "Done",
        },
        "Broken": {"Type": "Fail", "Error": "Work.Broken", "CausePath": "$.fail"},
        "Done": {"Type": "Pass", "Result": {"done": True}, "End": True},
    },
}

#: waits at Approve for a task token (the ``notify`` operation receives it)
CALLBACK = {
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Next": "Approve"},
        "Approve": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
            "End": True,
        },
    },
}


def add_workflow(api, name, definition=ORDERS, description=""):
    return api.call(
        "POST", "/v1/workflows", {"name": name, "definition": definition, "description": description}
    )


def add_execution(api, workflow, name, input=None, *, settle=True):
    view = api.call("POST", f"/v1/workflows/{workflow}/executions", {"name": name, "input": input or {}})
    if settle:
        api.settle()
    return view


@pytest.fixture
def notify(monkeypatch):
    """Payloads the callback task sent (each carries its token)."""
    return task_operation(monkeypatch, "notify")


@pytest.fixture(autouse=True)
def no_polling_delay(monkeypatch):
    monkeypatch.setattr(executions_module, "POLL_SECONDS", 0)


@pytest.fixture
def definition_file(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text(
        "StartAt: Prepare\nStates:\n  Prepare:\n    Type: Pass\n    End: true\n", encoding="utf-8"
    )
    return str(path)


def _body(api, method, path):
    (req,) = api.sent(method, path)
    return json.loads(req.content)


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


# -- workflows --------------------------------------------------------------------------------------------


def test_create_sends_the_definition_with_an_idempotency_key(api, cli, definition_file):
    result = cli("workflows", "create", "orders", definition_file, "--description", "takes orders")
    assert result.exit_code == 0, result.output
    assert "created workflow orders version 1" in result.stdout
    assert _body(api, "POST", "/v1/workflows") == {
        "name": "orders",
        "definition": DEFINITION,
        "description": "takes orders",
    }
    (req,) = api.sent("POST", "/v1/workflows")
    assert req.headers["Idempotency-Key"]


def test_create_reuses_a_given_idempotency_key_and_reads_stdin(api, cli):
    result = cli(
        "workflows", "create", "orders", "-", "--idempotency-key", "k-1", input=json.dumps(DEFINITION)
    )
    assert result.exit_code == 0, result.output
    (req,) = api.sent("POST", "/v1/workflows")
    assert req.headers["Idempotency-Key"] == "k-1"
    assert json.loads(req.content)["definition"] == DEFINITION


def test_create_invalid_definition_shows_the_api_errors(api, cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"States": {}}), encoding="utf-8")
    result = cli("workflows", "create", "orders", str(bad))
    assert result.exit_code == 1
    assert "Error 422" in result.stderr
    assert "definition.StartAt" in result.stderr and "is required" in result.stderr


def test_create_conflict_and_unreadable_file(api, cli, definition_file, tmp_path):
    add_workflow(api, "orders")
    result = cli("workflows", "create", "orders", definition_file)
    assert result.exit_code == 1 and "Error 409" in result.stderr
    result = cli("workflows", "create", "other", str(tmp_path / "missing.json"))
    assert result.exit_code == 2
    assert not api.sent("POST", "/v1/workflows")[1:]


def test_update_puts_a_new_version(api, cli, definition_file):
    add_workflow(api, "orders", description="old")
    result = cli("workflows", "update", "orders", definition_file, "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == 2
    assert _body(api, "PUT", "/v1/workflows/orders") == {"definition": DEFINITION}
    result = cli("workflows", "update", "orders", definition_file, "--description", "new")
    assert "updated workflow orders version 3" in result.stdout
    assert json.loads(api.sent("PUT", "/v1/workflows/orders")[1].content)["description"] == "new"


def test_get_shows_the_definition_and_takes_a_version(api, cli):
    add_workflow(api, "orders", {"StartAt": "First", "States": {"First": {"Type": "Succeed"}}})
    api.call("PUT", "/v1/workflows/orders", {"definition": DEFINITION})
    result = cli("workflows", "get", "orders")
    assert result.exit_code == 0, result.output
    assert "orders" in result.stdout and '"StartAt": "Prepare"' in result.stdout
    result = cli("workflows", "get", "orders", "--version", "1", "-o", "json")
    assert json.loads(result.stdout)["definition"]["StartAt"] == "First"
    (req,) = [r for r in api.sent("GET", "/v1/workflows/orders") if r.url.params.get("version")]
    assert req.url.params["version"] == "1"


def test_get_missing_exits_1(api, cli):
    result = cli("workflows", "get", "nope")
    assert result.exit_code == 1
    assert "Error 404" in result.stderr and "no workflow named 'nope'" in result.stderr


def test_list_table_json_and_pages(api, cli):
    assert "no workflows yet" in cli("workflows", "list").stdout
    for name in ("b", "a", "c"):
        add_workflow(api, name, description=f"the {name} flow")
    result = cli("workflows", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "NAME" in lines[0] and "the a flow" in result.stdout
    result = cli("workflows", "list", "-o", "json", "--limit", "2")
    assert [w["name"] for w in json.loads(result.stdout)["items"]] == ["a", "b"]
    assert "more: --cursor " in result.stderr
    result = cli("workflows", "list", "-o", "json", "--limit", "2", "--all")
    assert [w["name"] for w in json.loads(result.stdout)["items"]] == ["a", "b", "c"]


def test_delete(api, cli):
    add_workflow(api, "orders")
    result = cli("workflows", "delete", "orders")
    assert result.exit_code == 0 and "deleted workflow orders" in result.stdout
    assert cli("workflows", "get", "orders").exit_code == 1
    assert cli("workflows", "delete", "orders").exit_code == 1


# -- executions ------------------------------------------------------------------------------------------


def test_start_without_wait(api, cli):
    add_workflow(api, "orders")
    result = cli("executions", "start", "orders", "--name", "o-1", "--input-json", '{"id": 7}')
    assert result.exit_code == 0, result.output
    assert "started execution o-1 of orders (RUNNING)" in result.stdout
    assert _body(api, "POST", "/v1/workflows/orders/executions") == {"name": "o-1", "input": {"id": 7}}
    (req,) = api.sent("POST", "/v1/workflows/orders/executions")
    assert req.headers["Idempotency-Key"]


def test_start_input_from_file_default_and_conflicts(api, cli, tmp_path):
    add_workflow(api, "orders")
    (tmp_path / "in.yaml").write_text("id: 8\n", encoding="utf-8")
    assert cli("executions", "start", "orders", "--input", str(tmp_path / "in.yaml")).exit_code == 0
    assert cli("executions", "start", "orders").exit_code == 0
    assert cli("executions", "start", "orders", "--input-json", '"text"').exit_code == 0
    sent = [json.loads(r.content) for r in api.sent("POST", "/v1/workflows/orders/executions")]
    assert [b["input"] for b in sent] == [{"id": 8}, {}, '"text"']  # a string goes as JSON text
    result = cli("executions", "start", "orders", "--input-json", "{nope")
    assert result.exit_code == 2 and "not valid JSON" in _flat(result.output)
    result = cli("executions", "start", "orders", "--input", str(tmp_path / "in.yaml"), "--input-json", "{}")
    assert result.exit_code == 2 and "not both" in _flat(result.output)
    assert len(api.sent("POST", "/v1/workflows/orders/executions")) == 3


def test_start_wait_success_shows_progress_and_exits_0(api, cli):
    add_workflow(api, "orders")
    result = cli("executions", "start", "orders", "--name", "o-1", "--input-json", '{"id": 1}', "--wait")
    assert result.exit_code == 0, result.output
    out = result.stdout
    # the states a worker applies at once (Pass, Choice) pass between two polls: the progress shows
    # where the execution was at each poll, then its end
    assert out.index("Prepare") < out.index("execution o-1 SUCCEEDED")
    assert '"done":true' in out
    assert api.call("GET", "/v1/workflows/orders/executions/o-1")["status"] == "SUCCEEDED"


def test_start_wait_failure_exits_1_with_error_and_cause(api, cli):
    add_workflow(api, "orders")
    result = cli(
        "executions",
        "start",
        "orders",
        "--name",
        "o-1",
        "--input-json",
        '{"fail": "the work went wrong"}',
        "--wait",
    )
    assert result.exit_code == 1
    assert "execution o-1 FAILED" in result.stderr
    assert "Work.Broken" in result.stderr and "the work went wrong" in result.stderr


def test_start_wait_json_puts_the_final_view_on_stdout(api, cli):
    add_workflow(api, "orders")
    result = cli("-o", "json", "executions", "start", "orders", "--name", "o-1", "--wait")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["status"] == "SUCCEEDED" and view["output"]["done"] is True
    assert "Prepare" in result.stderr  # progress goes to stderr


def test_start_wait_timeout_exits_1(api, cli):
    add_workflow(api, "orders")
    api.working = False
    result = cli("executions", "start", "orders", "--name", "o-1", "--wait", "--timeout", "0")
    assert result.exit_code == 1
    assert "timed out" in result.stderr and "still RUNNING" in result.stderr


def test_follow_polls_every_interval_until_done(api):
    add_workflow(api, "orders")
    view = add_execution(api, "orders", "o-1", settle=False)
    sleeps: list[float] = []
    with Client("http://pilothouse.test", api.key) as client:
        final, timed_out = executions_module.follow(
            client, view, console=Console(file=io.StringIO()), interval=0.3, sleep=sleeps.append
        )
    assert final["status"] == "SUCCEEDED" and not timed_out
    assert sleeps and set(sleeps) == {0.3}
    assert len(api.sent("GET", "/v1/workflows/orders/executions/o-1")) == len(sleeps)


def test_start_wait_on_a_callback_task_says_what_it_waits_for(api, cli, notify):
    add_workflow(api, "orders", CALLBACK)
    result = cli(
        "executions", "start", "orders", "--name", "o-1", "--wait", "--timeout", "3"
    )  # long enough under load to reach the task
    assert result.exit_code == 1
    assert "Approve waits for a task token" in result.stdout
    assert "pilothouse tasks success" in result.stdout


def test_start_missing_workflow_exits_1(api, cli):
    result = cli("executions", "start", "nope")
    assert result.exit_code == 1 and "Error 404" in result.stderr


def test_describe(api, cli):
    add_workflow(api, "orders")
    add_execution(api, "orders", "o-1", {"id": 3, "fail": "bad"})
    result = cli("executions", "describe", "orders", "o-1")
    assert result.exit_code == 0, result.output
    for text in ("o-1", "FAILED", "Work.Broken", "bad", '{"id":3,"fail":"bad"}', "execution:orders:o-1"):
        assert text in result.stdout
    result = cli("executions", "describe", "orders", "o-1", "-o", "json")
    assert json.loads(result.stdout)["error"] == "Work.Broken"
    assert cli("executions", "describe", "orders", "o-9").exit_code == 1


def test_describe_running_shows_position_and_waiting_tasks(api, cli, notify):
    add_workflow(api, "orders", CALLBACK)
    add_execution(api, "orders", "o-1")
    result = cli("executions", "describe", "orders", "o-1")
    assert "RUNNING" in result.stdout and "Approve waits for a task token" in result.stdout


def test_list_filters_by_status(api, cli):
    add_workflow(api, "orders")
    add_execution(api, "orders", "o-1")
    add_execution(api, "orders", "o-2", {"fail": "bad"})
    result = cli("executions", "list", "orders", "--status", "failed")
    assert result.exit_code == 0, result.output
    assert "o-2" in result.stdout and "o-1" not in result.stdout
    (req,) = api.sent("GET", "/v1/workflows/orders/executions")
    assert req.url.params["status"] == "FAILED"
    result = cli("executions", "list", "orders", "-o", "json")
    assert [e["name"] for e in json.loads(result.stdout)["items"]] == ["o-1", "o-2"]
    assert cli("executions", "list", "orders", "--status", "weird").exit_code == 2
    assert "no executions match" in cli("executions", "list", "orders", "--status", "aborted").stdout


def test_history_in_order_reversed_and_paged(api, cli):
    add_workflow(api, "orders")
    add_execution(api, "orders", "o-1", {"fail": "bad"})
    history = api.call("GET", "/v1/workflows/orders/executions/o-1/history?limit=1000")
    ids = [e["id"] for e in history["events"]]
    result = cli("executions", "history", "orders", "o-1")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.index("ExecutionStarted") < out.index("PassStateEntered") < out.index("ExecutionFailed")
    assert "Work.Broken: bad" in out
    result = cli("executions", "history", "orders", "o-1", "--reverse", "-o", "json")
    assert [e["id"] for e in json.loads(result.stdout)["events"]] == ids[::-1]
    assert api.sent("GET", "/v1/workflows/orders/executions/o-1/history")[-1].url.params["reverse"] == "true"
    result = cli("executions", "history", "orders", "o-1", "--limit", "3", "-o", "json")
    assert [e["id"] for e in json.loads(result.stdout)["events"]] == ids[
        :3
    ] and "more: --cursor " in result.stderr
    result = cli("executions", "history", "orders", "o-1", "--limit", "3", "--all", "-o", "json")
    assert [e["id"] for e in json.loads(result.stdout)["events"]] == ids


def test_stop_sends_error_and_cause(api, cli, notify):
    add_workflow(api, "orders", CALLBACK)
    add_execution(api, "orders", "o-1")
    result = cli("executions", "stop", "orders", "o-1", "--error", "Ops.Stop", "--cause", "by hand")
    assert result.exit_code == 0, result.output
    assert "execution o-1 is ABORTED" in result.stdout
    assert _body(api, "POST", "/v1/workflows/orders/executions/o-1/stop") == {
        "error": "Ops.Stop",
        "cause": "by hand",
    }
    (req,) = api.sent("POST", "/v1/workflows/orders/executions/o-1/stop")
    assert req.headers["Idempotency-Key"]


def test_redrive_wait_and_conflict(api, cli, monkeypatch):
    calls = []

    def flaky(payload):
        calls.append(payload)
        if len(calls) == 1:
            raise RuntimeError("not yet")
        return {"done": True}

    task_operation(monkeypatch, "flaky", flaky)
    add_workflow(
        api,
        "orders",
        {"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "flaky", "End": True}}},
    )
    add_execution(api, "orders", "o-1")
    assert api.call("GET", "/v1/workflows/orders/executions/o-1")["status"] == "FAILED"
    result = cli("executions", "redrive", "orders", "o-1", "--wait")
    assert result.exit_code == 0, result.output
    assert "execution o-1 SUCCEEDED" in result.stdout
    assert api.call("GET", "/v1/workflows/orders/executions/o-1")["redrive_count"] == 1
    assert len(calls) == 2
    result = cli("executions", "redrive", "orders", "o-1")
    assert result.exit_code == 1 and "Error 409" in result.stderr


# -- task tokens -------------------------------------------------------------------------------------------


@pytest.fixture
def waiting(api, notify):
    """The token of a task execution o-1 of orders waits for."""
    add_workflow(api, "orders", CALLBACK)
    add_execution(api, "orders", "o-1")
    return notify[0]["token"]


def test_task_success_with_output_json(api, cli, waiting):
    result = cli("tasks", "success", waiting, "--output-json", '{"approved": true}')
    assert result.exit_code == 0, result.output
    assert "task succeeded; execution o-1 of orders is SUCCEEDED" in result.stdout
    assert _body(api, "POST", "/v1/task-tokens/success") == {"token": waiting, "output": {"approved": True}}
    (req,) = api.sent("POST", "/v1/task-tokens/success")
    assert req.headers["Idempotency-Key"]


def test_task_success_output_file_and_default(api, cli, waiting, tmp_path):
    (tmp_path / "out.json").write_text('{"n": 1}', encoding="utf-8")
    result = cli("tasks", "success", waiting, "--output-file", str(tmp_path / "out.json"), "-o", "json")
    assert json.loads(result.stdout)["output"] == {"n": 1}
    assert cli("tasks", "success", waiting).exit_code == 1  # nothing waits any more: 404
    assert json.loads(api.sent("POST", "/v1/task-tokens/success")[1].content)["output"] == {}
    result = cli(
        "tasks", "success", waiting, "--output-json", "{}", "--output-file", str(tmp_path / "out.json")
    )
    assert result.exit_code == 2


def test_task_failure_and_heartbeat(api, cli, waiting):
    result = cli("tasks", "heartbeat", waiting)
    assert result.exit_code == 0, result.output
    assert "heartbeat sent" in result.stdout
    assert _body(api, "POST", "/v1/task-tokens/heartbeat") == {"token": waiting}
    result = cli("tasks", "failure", waiting, "--error", "Approval.Rejected", "--cause", "no budget")
    assert result.exit_code == 0, result.output
    assert "is FAILED" in result.stdout
    assert _body(api, "POST", "/v1/task-tokens/failure") == {
        "token": waiting,
        "error": "Approval.Rejected",
        "cause": "no budget",
    }


def test_unknown_token_exits_1(api, cli):
    result = cli("tasks", "failure", "orders/none")
    assert result.exit_code == 1
    assert "TaskDoesNotExist" in result.stderr
    assert _body(api, "POST", "/v1/task-tokens/failure") == {"token": "orders/none"}


def test_history_pages_hold_exactly_the_limit_even_inside_a_step(api, cli):
    """Given an execution whose steps hold several events each, When its history is read two events
    a page (forward and reversed), Then every event comes exactly once, in order, two per page."""
    add_workflow(api, "orders")
    add_execution(api, "orders", "o-1", {"fail": "bad"})
    path = "/v1/workflows/orders/executions/o-1/history"
    ids = [e["id"] for e in api.call("GET", f"{path}?limit=1000")["events"]]
    assert len(ids) > 4
    for reverse, expected in (("false", ids), ("true", ids[::-1])):
        seen, cursor = [], None
        while True:
            query = f"limit=2&reverse={reverse}" + (f"&cursor={cursor}" if cursor else "")
            page = api.call("GET", f"{path}?{query}")
            assert len(page["events"]) <= 2
            seen += [e["id"] for e in page["events"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == expected
    refused = cli("executions", "history", "orders", "o-1", "--cursor", "x:y")
    assert refused.exit_code != 0 and "cursor" in refused.output + refused.stderr
