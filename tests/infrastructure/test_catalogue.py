"""The operation catalogue is the one source of every function's trigger, route and permissions.

Given the catalogue, when ``make infra`` renders the packaging files, then the generated blocks of
the committed files are current, each kind of trigger renders as AWS expects, and every endpoint
of the API takes its method, route and permission from the catalogue.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pilothouse import catalogue
from pilothouse.catalogue import Function, consume, every, http, invoke
from pilothouse.domain.security import Permission

ROOT = Path(__file__).resolve().parents[2]


def _gen():
    spec = importlib.util.spec_from_file_location("gen_infra", ROOT / "tools" / "gen_infra.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_infra"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


gen = _gen()


@pytest.mark.parametrize("path", sorted(gen.TARGETS))
def test_the_generated_blocks_are_current(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    assert gen.render(path, text) == text, f"{path} is stale: run `make infra`"


def test_check_mode_names_a_stale_file_and_changes_nothing(tmp_path, monkeypatch):
    for path in gen.TARGETS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)  # infra/gcp/operations.tf
        (tmp_path / path).write_text((ROOT / path).read_text(encoding="utf-8"), encoding="utf-8")
    stale = (tmp_path / "serverless.yml").read_text().replace("timeout: 300", "timeout: 301", 1)
    (tmp_path / "serverless.yml").write_text(stale)
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main(["--check"]) == 1
    assert (tmp_path / "serverless.yml").read_text() == stale
    assert gen.main([]) == 0
    assert (tmp_path / "serverless.yml").read_text() == (ROOT / "serverless.yml").read_text()


def test_every_function_folder_has_one_catalogue_entry():
    folders = {p.parent.name for p in (ROOT / "functions").glob("*/app.py")}
    names = [f.name for f in catalogue.FUNCTIONS]
    assert len(names) == len(set(names))
    assert set(names) == folders


def test_every_api_operation_takes_method_route_and_permission_from_the_catalogue():
    from pilothouse.api import all_operations

    http_entries = {
        f.name: f.trigger
        for f in catalogue.FUNCTIONS
        if isinstance(f.trigger, catalogue.Http) and f.trigger.route.startswith("/v1/")
    }  # the dashboard (/ and /{proxy+}) is a function of the suite, not an API operation
    ops = {op.name: op for op in all_operations()}
    assert set(ops) == set(http_entries)
    for name, op in ops.items():
        t = http_entries[name]
        assert (op.method, op.path, op.permission) == (t.method, t.resolver_route, t.permission)


def test_an_endpoint_missing_from_the_catalogue_is_refused_at_import():
    from pilothouse.runtime.operations import operation

    def not_catalogued() -> None: ...

    with pytest.raises(KeyError, match="not_catalogued"):
        operation(summary="x", tag="x")(not_catalogued)


def test_a_catalogued_function_without_a_route_is_no_http_operation():
    from pilothouse.runtime.operations import operation

    def deliver_notifications() -> None: ...

    assert not isinstance(catalogue.entry("deliver_notifications").trigger, catalogue.Http)
    with pytest.raises(TypeError, match="not an HTTP operation"):
        operation(summary="x", tag="x")(deliver_notifications)


def _sam(fn: Function) -> dict:
    text = "Resources:\n" + "\n".join(gen._sam_function(fn)) + "\n"

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor(
        "!",
        lambda loader, suffix, node: (
            {suffix: loader.construct_scalar(node)}
            if isinstance(node, yaml.ScalarNode)
            else {suffix: loader.construct_sequence(node)}
        ),
    )
    return yaml.load(text, Loader=Loader)["Resources"]  # noqa: S506 - a SafeLoader subclass


def test_an_http_entry_renders_its_route_checkov_reasons_and_least_privilege():
    fn = Function(
        "get_thing",
        http("GET", "/v1/things/{id}", Permission.COMPONENTS_READ),
        policies=(catalogue.TABLE_READ,),
    )
    res = _sam(fn)["GetThingFunction"]
    props = res["Properties"]
    assert props["Events"]["Http"]["Properties"]["Path"] == "/v1/things/{id}"
    assert props["Events"]["Http"]["Properties"]["Method"] == "GET"
    assert props["Policies"] == [{"DynamoDBReadPolicy": {"TableName": {"Ref": "Table"}}}]
    assert {s["id"] for s in res["Metadata"]["checkov"]["skip"]} == {"CKV_AWS_115", "CKV_AWS_116"}
    assert "Timeout" not in props


def test_a_queue_consumer_gets_its_batch_dead_letter_queue_and_reserved_concurrency():
    fn = Function(
        "eat", consume("jobs", batch_size=7, event="Jobs"), policies=(catalogue.TABLE_WRITE,), timeout=900
    )
    props = _sam(fn)["EatFunction"]["Properties"]
    sqs = props["Events"]["Jobs"]["Properties"]
    assert sqs["BatchSize"] == 7 and sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["DeadLetterQueue"]["TargetArn"] == {"GetAtt": "JobsDeadLetterQueue.Arn"}
    assert props["ReservedConcurrentExecutions"] == {"Ref": "QueueConsumerConcurrency"}
    assert props["Timeout"] == 900
    sls = yaml.safe_load("\n".join(gen._sls_function(fn)))["eat"]
    assert sls["events"][0]["sqs"]["batchSize"] == 7
    assert sls["onError"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}


def test_a_schedule_runs_one_at_a_time_without_retries():
    fn = Function("tick", every("rate(5 minutes)", event="Every5"), policies=(), timeout=60)
    props = _sam(fn)["TickFunction"]["Properties"]
    assert props["Events"]["Every5"]["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert props["ReservedConcurrentExecutions"] == 1
    assert props["EventInvokeConfig"]["MaximumRetryAttempts"] == 0
    assert props["Policies"] == []
    sls = yaml.safe_load("\n".join(gen._sls_function(fn)))["tick"]
    assert sls["events"] == [{"schedule": {"method": "scheduler", "rate": ["rate(5 minutes)"]}}]
    assert sls["reservedConcurrency"] == 1 and sls["maximumRetryAttempts"] == 0


def test_a_task_function_invokes_only_what_it_names():
    fn = Function("step", catalogue.TASK, policies=(invoke("deployment_prepare"),), timeout=300)
    res = _sam(fn)["StepFunction"]
    assert "Events" not in res["Properties"]
    assert res["Properties"]["Policies"] == [
        {"LambdaInvokePolicy": {"FunctionName": {"Ref": "DeploymentPrepareFunction"}}}
    ]


def test_public_routes_skip_the_jwt_authorizer_and_guarded_ones_use_it():
    lines = gen.sam_routes(
        [
            Function("open", http("GET", "/v1/open", catalogue.PUBLIC), policies=()),
            Function("closed", http("POST", "/v1/open", Permission.COMPONENTS_DEPLOY), policies=()),
        ]
    )
    body = yaml.safe_load("\n".join(line.replace("!If ", "") for line in lines))
    assert body["/v1/open"]["get"]["security"] == []
    assert body["/v1/open"]["post"]["security"] != []


def test_a_file_without_its_markers_is_an_error_not_a_silent_skip():
    with pytest.raises(gen.MarkerError):
        gen.render("serverless.yml", "functions:\n  x: {}\n")


def test_make_infra_check_passes_on_the_committed_files():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_infra.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
