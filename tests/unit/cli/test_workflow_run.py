"""``workflow validate`` and ``workflow run``: offline, in memory, on real definitions."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

LAMBDA = "arn:aws:lambda:us-east-1:123456789012:function:"

WAIT_AN_HOUR = {
    "Comment": "Pass, Choice and a Wait of one hour",
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Parameters": {"n.$": "$.n", "kind": "big"}, "Next": "Route"},
        "Route": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Later"}],
            "Default": "Small",
        },
        "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.kind", "End": True},
        "Later": {"Type": "Wait", "Seconds": 3600, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}

CHARGE = {
    "StartAt": "Charge",
    "States": {
        "Charge": {
            "Type": "Task",
            "Resource": LAMBDA + "charge",
            "Retry": [{"ErrorEquals": ["Card.Declined"], "MaxAttempts": 2, "IntervalSeconds": 600}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Refund"}],
            "Next": "Notify",
        },
        "Notify": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
            "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
            "End": True,
        },
        "Refund": {"Type": "Fail", "Error": "Charge.Failed", "Cause": "the card was declined"},
    },
}

MOCKS = {
    "StateMachines": {
        "Checkout": {
            "TestCases": {
                "HappyPath": {"Charge": "ChargeOk", "Notify": "NotifyAnswered"},
                "DeclinedOnce": {"Charge": "DeclinedThenOk", "Notify": "NotifyAnswered"},
                "AlwaysDeclined": {"Charge": "AlwaysDeclined", "Notify": "NotifyAnswered"},
                "NoNotifyMock": {"Charge": "ChargeOk"},
            }
        }
    },
    "MockedResponses": {
        "ChargeOk": {"0": {"Return": {"charged": 42}}},
        "DeclinedThenOk": {
            "0": {"Throw": {"Error": "Card.Declined", "Cause": "insufficient funds"}},
            "1-2": {"Return": {"charged": 42, "attempt": "retried"}},
        },
        "AlwaysDeclined": {"0-2": {"Throw": {"Error": "Card.Declined", "Cause": "stolen card"}}},
        "NotifyAnswered": {"0": {"Return": {"approved": True}}},
    },
}

JSONATA = {
    "QueryLanguage": "JSONata",
    "StartAt": "Total",
    "States": {
        "Total": {
            "Type": "Pass",
            "Assign": {"count": "{% $count($states.input.items) %}"},
            "Output": {"total": "{% $sum($states.input.items.price) %}"},
            "Next": "Check",
        },
        "Check": {
            "Type": "Choice",
            "Choices": [
                {
                    "Condition": "{% $states.input.total > 10 %}",
                    "Next": "Big",
                    "Output": {"total": "{% $states.input.total %}", "items": "{% $count %}"},
                }
            ],
            "Default": "Small",
        },
        "Big": {"Type": "Succeed"},
        "Small": {
            "Type": "Fail",
            "Error": "Order.TooSmall",
            "Cause": "{% 'total ' & $string($states.input.total) %}",
        },
    },
}


@pytest.fixture
def write(tmp_path):
    def write(name: str, doc, fmt: str = "json") -> str:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(doc) if fmt == "yaml" else json.dumps(doc), encoding="utf-8")
        return str(path)

    return write


def _flat(text: str) -> str:
    """Output without the usage-error box's borders and line breaks."""
    return " ".join(text.replace("│", " ").split())


def _result(result) -> dict:
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert set(body) >= {"status", "output", "error", "cause"}
    return body


# -- validate ----------------------------------------------------------------------------------------


def test_validate_valid_json_and_yaml(cli, write):
    for fmt in ("json", "yaml"):
        result = cli("workflow", "validate", write(f"ok.{fmt}", WAIT_AN_HOUR, fmt))
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "valid"


def test_validate_reports_every_error_with_its_path(cli, write):
    bad = {"StartAt": "Nowhere", "States": {"A": {"Type": "Pass", "Next": "Missing"}, "B": {"Type": "Bogus"}}}
    result = cli("workflow", "validate", write("bad.json", bad))
    assert result.exit_code == 1
    assert "invalid" in result.stdout
    assert "$.StartAt" in result.stdout
    assert "$.States.A.Next" in result.stdout
    assert "$.States.B" in result.stdout


def test_validate_json_output_and_stdin(cli):
    result = cli("workflow", "validate", "-", "-o", "json", input=json.dumps(WAIT_AN_HOUR))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"valid": True, "errors": [], "warnings": []}
    bad = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}, "Z": {"Type": "Succeed"}}}
    result = cli("-o", "json", "workflow", "validate", "-", input=json.dumps(bad))
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["valid"] is False
    assert [e["path"] for e in body["errors"]] == ["$.States.A.Next"]
    assert set(body["errors"][0]) == {"path", "message"}


def test_validate_warnings_are_apart_from_errors_and_strict_shows_them(cli, write):
    """AWS accepts an unreachable state: valid (exit 0), a warning --strict shows (and fails on)."""
    orphan = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Succeed"},
            "Orphan": {"Type": "Pass", "Parameters": {"x": "$.y"}, "End": True},
        },
    }
    path = write("orphan.json", orphan)
    result = cli("workflow", "validate", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "valid"
    assert "2 warning(s)" in result.stderr and "--strict" in result.stderr
    result = cli("workflow", "validate", path, "--strict")
    assert result.exit_code == 1
    assert "valid, with warnings" in result.stdout
    assert "$.States.Orphan" in result.stdout and "$.States.Orphan.Parameters.x" in result.stdout
    body = json.loads(cli("workflow", "validate", path, "-o", "json").stdout)
    assert body["valid"] is True and body["errors"] == []
    assert [w["path"] for w in body["warnings"]] == ["$.States.Orphan.Parameters.x", "$.States.Orphan"]
    # errors and warnings together: both listed, apart
    orphan["States"]["A"] = {"Type": "Pass", "Next": "Missing"}
    result = cli("workflow", "validate", write("both.json", orphan), "--strict")
    assert result.exit_code == 1
    assert "invalid" in result.stdout and "2 warning(s):" in result.stdout


def test_validate_unreadable_file_is_a_usage_error(cli, tmp_path):
    result = cli("workflow", "validate", str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "cannot read" in result.output


# -- run: flow states and the clock ---------------------------------------------------------------------


def test_run_wait_of_an_hour_finishes_at_once(cli, write):
    started = time.monotonic()
    result = cli(
        "workflow",
        "run",
        "-d",
        write("wait.json", WAIT_AN_HOUR),
        "-i",
        write("in.json", {"n": 11}),
        "--history",
        "-o",
        "json",
    )
    assert time.monotonic() - started < 10
    body = _result(result)
    assert (body["status"], body["output"], body["error"], body["cause"]) == (
        "SUCCEEDED",
        {"n": 11, "kind": "big"},
        None,
        None,
    )
    history = body["history"]
    stamps = {e["type"]: datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")) for e in history}
    assert (stamps["WaitStateExited"] - stamps["WaitStateEntered"]).total_seconds() == 3600
    assert history[-1]["type"] == "ExecutionSucceeded"


def test_run_output_has_exactly_the_four_keys_and_is_json_whatever_o(cli, write):
    result = cli(
        "-o",
        "table",
        "workflow",
        "run",
        "-d",
        write("wait.json", WAIT_AN_HOUR, "yaml"),
        "--input",
        "-",
        input='{"n": 1}',
    )
    body = _result(result)
    assert body == {"status": "SUCCEEDED", "output": {"n": 1, "kind": "small"}, "error": None, "cause": None}


def test_run_input_defaults_to_empty_object(cli, write):
    definition = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}
    body = _result(cli("workflow", "run", "--definition", write("echo.json", definition)))
    assert body["output"] == {}


def test_run_history_goes_to_stderr_in_table_mode(cli, write):
    result = cli(
        "workflow", "run", "-d", write("wait.json", WAIT_AN_HOUR), "-i", "-", "--history", input='{"n": 50}'
    )
    body = _result(result)
    assert "history" not in body
    assert "WaitStateEntered" in result.stderr and "ExecutionSucceeded" in result.stderr
    assert "WaitStateEntered" not in result.stdout


def test_run_failed_execution_exits_0_and_says_so(cli, write):
    definition = {
        "StartAt": "Boom",
        "States": {"Boom": {"Type": "Fail", "Error": "Oops", "Cause": "on purpose"}},
    }
    body = _result(cli("workflow", "run", "-d", write("fail.json", definition)))
    assert body == {"status": "FAILED", "output": None, "error": "Oops", "cause": "on purpose"}


def test_run_fail_on_error_exits_1_with_the_json_still_printed(cli, write):
    fail = write("fail.json", {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Oops"}}})
    result = cli("workflow", "run", "-d", fail, "--fail-on-error")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "FAILED"
    ok = write("ok.json", {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}})
    assert cli("workflow", "run", "-d", ok, "--fail-on-error").exit_code == 0


def test_run_input_inline_json_or_a_file(cli, write, tmp_path, monkeypatch):
    definition = write("echo.json", {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}})
    assert _result(cli("workflow", "run", "-d", definition, "-i", '{"n": 3}'))["output"] == {"n": 3}
    assert _result(cli("workflow", "run", "-d", definition, "-i", "[1, 2]"))["output"] == [1, 2]
    assert _result(cli("workflow", "run", "-d", definition, "-i", "7"))["output"] == 7
    # a file wins over the same text read as JSON
    monkeypatch.chdir(tmp_path)
    (tmp_path / "7").write_text('{"from": "file"}')
    assert _result(cli("workflow", "run", "-d", definition, "-i", "7"))["output"] == {"from": "file"}
    broken = cli("workflow", "run", "-d", definition, "-i", '{"n": ')
    assert broken.exit_code == 2
    assert "neither a file nor valid JSON" in _flat(broken.output)


def test_run_jsonata_definition(cli, write):
    order = {"items": [{"price": 7}, {"price": 8}]}
    body = _result(cli("workflow", "run", "-d", write("j.json", JSONATA), "-i", write("o.json", order)))
    assert body["status"] == "SUCCEEDED"
    assert body["output"] == {"total": 15, "items": 2}
    body = _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("j.json", JSONATA),
            "-i",
            write("o.json", {"items": [{"price": 3}]}),
        )
    )
    assert (body["status"], body["error"], body["cause"], body["output"]) == (
        "FAILED",
        "Order.TooSmall",
        "total 3",
        None,
    )


def test_run_invalid_definition_exits_2_with_errors_on_stderr(cli, write):
    bad = {"StartAt": "A", "States": {"A": {"Type": "Wait", "Next": "B"}}}
    result = cli("workflow", "run", "-d", write("bad.json", bad))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "invalid definition" in result.stderr
    assert "$.States.A" in result.stderr


def test_run_bad_files_exit_2(cli, write, tmp_path):
    definition = write("wait.json", WAIT_AN_HOUR)
    assert cli("workflow", "run", "-d", str(tmp_path / "missing.json")).exit_code == 2
    (tmp_path / "broken.json").write_text("{not: [json", encoding="utf-8")
    assert cli("workflow", "run", "-d", definition, "-i", str(tmp_path / "broken.json")).exit_code == 2
    assert cli("workflow", "run", "-d", "-", "-i", "-", input="{}").exit_code == 2
    assert cli("workflow", "run").exit_code == 2  # --definition is required


# -- run: Task states answered by mocks ----------------------------------------------------------------


def _run_mocked(cli, write, case: str, *extra: str) -> dict:
    return _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("checkout.json", CHARGE),
            "-i",
            write("in.json", {"cart": 1}),
            "--mocks",
            write("mocks.json", MOCKS),
            "--test-case",
            case,
            *extra,
        )
    )


def test_mocks_happy_path_answers_the_task_token_task(cli, write):
    body = _run_mocked(cli, write, "HappyPath")
    assert body == {"status": "SUCCEEDED", "output": {"approved": True}, "error": None, "cause": None}


def test_mocks_throw_then_retry_succeeds(cli, write):
    body = _run_mocked(cli, write, "DeclinedOnce", "--history", "-o", "json")
    assert body["status"] == "SUCCEEDED"
    types = [e["type"] for e in body["history"]]
    assert types.count("TaskFailed") == 1 and types.count("TaskScheduled") == 3  # Charge twice, Notify once
    failed = next(e for e in body["history"] if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    assert (failed["error"], failed["cause"]) == ("Card.Declined", "insufficient funds")


def test_mocks_throw_every_time_is_caught(cli, write):
    body = _run_mocked(cli, write, "AlwaysDeclined", "--history", "-o", "json")
    assert (body["status"], body["error"], body["cause"]) == (
        "FAILED",
        "Charge.Failed",
        "the card was declined",
    )
    assert [e["type"] for e in body["history"]].count("TaskFailed") == 3  # the first try and two retries


def test_mocks_state_without_a_mock_fails_the_task(cli, write):
    body = _run_mocked(cli, write, "NoNotifyMock")
    assert body["status"] == "FAILED"
    assert body["error"] == "Pilothouse.MockNotFound"


def test_mocks_file_in_yaml(cli, write):
    body = _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("c.json", CHARGE),
            "--mocks",
            write("m.yaml", MOCKS, "yaml"),
            "--test-case",
            "HappyPath",
            "--state-machine",
            "Checkout",
        )
    )
    assert body["status"] == "SUCCEEDED"


def test_mocks_options_are_checked(cli, write):
    definition = write("c.json", CHARGE)
    mocks = write("m.json", MOCKS)
    two = write(
        "two.json", {**MOCKS, "StateMachines": {**MOCKS["StateMachines"], "Other": {"TestCases": {}}}}
    )
    cases = [
        (["--mocks", mocks], "--test-case"),
        (["--test-case", "HappyPath"], "--mocks"),
        (["--mocks", mocks, "--test-case", "Nope"], "no test case 'Nope'"),
        (
            ["--mocks", mocks, "--test-case", "HappyPath", "--state-machine", "Nope"],
            "no state machine 'Nope'",
        ),
        (["--mocks", two, "--test-case", "HappyPath"], "--state-machine"),
        (
            [
                "--mocks",
                write(
                    "bad.json", {"StateMachines": {"Checkout": {"TestCases": {"X": {"Charge": "Missing"}}}}}
                ),
                "--test-case",
                "X",
            ],
            "unknown response 'Missing'",
        ),
    ]
    for args, message in cases:
        result = cli("workflow", "run", "-d", definition, *args)
        assert result.exit_code == 2, args
        assert message in _flat(result.output), (args, result.output)
    result = cli(
        "workflow",
        "run",
        "-d",
        definition,
        "--mocks",
        two,
        "--test-case",
        "HappyPath",
        "--state-machine",
        "Checkout",
    )
    assert json.loads(result.stdout)["status"] == "SUCCEEDED"


# -- run: Task states invoking the project's functions -----------------------------------------------------

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  ChargeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/charge
      Handler: app.handler
  NotifyFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/notify
      Handler: app.handler
"""

CHARGE_CODE = """\
class Declined(Exception):
    pass


def handler(event, context):
    if event.get("card") == "stolen":
        raise Declined("stolen card")
    return {"charged": event["amount"] * 2}
"""

NOTIFY_CODE = """\
import json, os


def handler(event, context):
    with open(os.path.join(os.path.dirname(__file__), "seen.json"), "w") as fh:
        json.dump(event, fh)
    return {"sent": True}
"""


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "proj"
    for name, code in (("charge", CHARGE_CODE), ("notify", NOTIFY_CODE)):
        (root / "functions" / name).mkdir(parents=True)
        (root / "functions" / name / "app.py").write_text(code, encoding="utf-8")
    (root / "template.yaml").write_text(TEMPLATE, encoding="utf-8")
    return root


def _charge_only(resource: str, **state) -> dict:
    return {
        "StartAt": "Charge",
        "States": {"Charge": {"Type": "Task", "Resource": resource, "End": True, **state}},
    }


def test_project_function_by_arn(cli, write, project):
    body = _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("c.json", _charge_only(LAMBDA + "charge:live")),
            "-i",
            write("i.json", {"amount": 21}),
            "--project-dir",
            str(project),
        )
    )
    assert body == {"status": "SUCCEEDED", "output": {"charged": 42}, "error": None, "cause": None}


def test_project_function_through_lambda_invoke_is_enveloped(cli, write, project):
    definition = _charge_only(
        "arn:aws:states:::lambda:invoke",
        Parameters={"FunctionName": "ChargeFunction", "Payload": {"amount.$": "$.amount"}},
    )
    body = _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("c.json", definition),
            "-i",
            write("i.json", {"amount": 5}),
            "--project-dir",
            str(project),
        )
    )
    assert body["output"]["Payload"] == {"charged": 10}
    assert body["output"]["StatusCode"] == 200


def test_project_function_error_becomes_the_task_error(cli, write, project):
    body = _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("c.json", _charge_only("charge")),
            "-i",
            write("i.json", {"card": "stolen"}),
            "--project-dir",
            str(project),
        )
    )
    assert (body["status"], body["error"]) == ("FAILED", "Declined")
    assert json.loads(body["cause"]) == {"errorMessage": "stolen card", "errorType": "Declined"}


def test_unknown_function_and_missing_project(cli, write, project, tmp_path):
    body = _result(
        cli("workflow", "run", "-d", write("c.json", _charge_only("nope")), "--project-dir", str(project))
    )
    assert (body["status"], body["error"]) == ("FAILED", "Lambda.ResourceNotFoundException")
    body = _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("c.json", _charge_only("charge")),
            "--project-dir",
            str(tmp_path / "empty"),
        )
    )
    assert (body["status"], body["error"]) == ("FAILED", "Pilothouse.ProjectError")


def test_unavailable_service_integration_fails_the_task(cli, write, project):
    body = _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("c.json", _charge_only("arn:aws:states:::sqs:sendMessage")),
            "--project-dir",
            str(project),
        )
    )
    assert (body["status"], body["error"]) == ("FAILED", "States.TaskFailed")
    assert "--mocks" in body["cause"]


def _notify(**state) -> dict:
    return {
        "StartAt": "Notify",
        "States": {
            "Notify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "notify", "Payload": {"token.$": "$$.Task.Token"}},
                "End": True,
                **state,
            }
        },
    }


def test_task_token_without_callbacks_fails_clearly(cli, write, project):
    body = _result(cli("workflow", "run", "-d", write("n.json", _notify()), "--project-dir", str(project)))
    assert (body["status"], body["error"]) == ("FAILED", "Pilothouse.NoCallback")
    assert "--callbacks" in body["cause"] and "'Notify'" in body["cause"]


def test_task_token_answered_by_callbacks_file(cli, write, project):
    callbacks = write("cb.json", {"Notify": {"output": {"approved": "yes"}}})
    body = _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("n.json", _notify()),
            "--callbacks",
            callbacks,
            "--project-dir",
            str(project),
        )
    )
    assert body == {"status": "SUCCEEDED", "output": {"approved": "yes"}, "error": None, "cause": None}
    seen = json.loads((project / "functions" / "notify" / "seen.json").read_text())
    assert seen["token"]  # the function was invoked with the task token


def test_task_token_failure_from_callbacks_is_caught(cli, write, project):
    definition = _notify(
        Catch=[{"ErrorEquals": ["Approval.Rejected"], "ResultPath": "$.why", "Next": "Rejected"}], End=None
    )
    del definition["States"]["Notify"]["End"]
    definition["States"]["Notify"]["Next"] = "Rejected"
    definition["States"]["Rejected"] = {"Type": "Pass", "End": True}
    callbacks = write("cb.json", {"Notify": {"error": "Approval.Rejected", "cause": "no budget"}})
    body = _result(
        cli(
            "workflow",
            "run",
            "-d",
            write("n.json", definition),
            "--callbacks",
            callbacks,
            "--project-dir",
            str(project),
        )
    )
    assert body["status"] == "SUCCEEDED"
    assert body["output"]["why"] == {"Error": "Approval.Rejected", "Cause": "no budget"}


def test_callbacks_file_is_checked(cli, write, project):
    result = cli(
        "workflow",
        "run",
        "-d",
        write("n.json", _notify()),
        "--callbacks",
        write("cb.json", {"Notify": {"result": 1}}),
        "--project-dir",
        str(project),
    )
    assert result.exit_code == 2
    assert "must be" in result.output


def test_run_a_distributed_map_over_a_directory_standing_for_s3(cli, write, tmp_path):
    """Given items in DIR/data/items.csv, `workflow run --s3-dir DIR` reads them, runs each as a
    child execution and writes AWS's result files as plain files under DIR."""
    s3 = tmp_path / "s3"
    (s3 / "data").mkdir(parents=True)
    (s3 / "data" / "items.csv").write_text("id,name\n1,a\n2,b\n", encoding="utf-8")
    flow = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "Parameters": {"Bucket": "data", "Key": "items.csv"},
                    "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                },
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "P",
                    "States": {"P": {"Type": "Pass", "End": True}},
                },
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket": "data", "Prefix": "out"},
                },
                "End": True,
            }
        },
    }
    body = _result(cli("workflow", "run", "-d", write("fan.json", flow), "--s3-dir", str(s3), "-o", "json"))
    assert body["status"] == "SUCCEEDED", body
    manifest = json.loads((s3 / "data" / body["output"]["ResultWriterDetails"]["Key"]).read_text())
    entries = json.loads((s3 / "data" / manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]).read_text())
    assert [json.loads(e["Output"]) for e in entries] == [{"id": "1", "name": "a"}, {"id": "2", "name": "b"}]
    flow["States"]["Fan"]["ItemReader"]["Parameters"]["Key"] = "../../etc/passwd"
    body = _result(cli("workflow", "run", "-d", write("fan.json", flow), "--s3-dir", str(s3), "-o", "json"))
    assert body["error"] == "States.ItemReaderFailed"
