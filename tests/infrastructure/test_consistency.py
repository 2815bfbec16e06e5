"""functions/, template.yaml and serverless.yml describe the same suite: the same functions,
routes, queues, schedules and resources; every handler imports."""

from __future__ import annotations

import importlib.util

import pytest

from ._clouds import _sam, _sam_functions, _sam_triggers, _sls, _sls_triggers
from ._tools import ROOT, sam_as_sls

WORKFLOWS = ROOT / "shared/pilothouse/workflows"
FUNCTIONS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))


def test_template_and_serverless_declare_every_function_and_nothing_else():
    assert sorted(_sam_functions()) == FUNCTIONS
    assert sorted(_sls()["functions"]) == FUNCTIONS


def test_handlers_point_at_each_functions_app():
    for folder, props in _sam_functions().items():
        assert props["Handler"] == "app.handler", folder
    for folder, fn in _sls()["functions"].items():
        assert fn["handler"] == f"functions/{folder}/app.handler", folder


def test_routes_queues_and_schedules_agree():
    """Each trigger (route; queue, batch size, partial failures; schedule) is in both files."""
    sam, sls = _sam_triggers(), _sls_triggers()
    assert sam - sls == set(), "in template.yaml only"
    assert sls - sam == set(), "in serverless.yml only"


def test_sqs_triggers_report_partial_batch_failures():
    for trigger in _sam_triggers():
        if trigger[1] == "sqs":
            assert trigger[4] == ("ReportBatchItemFailures",), trigger


TASK_FUNCTIONS = {f for f in FUNCTIONS if f.startswith("deployment_") and f != "deployment_events"}
TASK_FUNCTIONS.add("promotion_start")


def test_workflow_task_functions_have_no_trigger():
    sam, sls = _sam_functions(), _sls()["functions"]
    for folder in sorted(TASK_FUNCTIONS):
        assert not sam[folder].get("Events"), folder
        assert not sls[folder].get("events"), folder


def test_the_jwt_authorizer_guards_exactly_the_routes():
    """The HttpApi body (optional JWT authorizer) names every route and no other; only health,
    the OpenAPI document and the webhook receiver (a delivery proves itself by its signature) stay
    public."""
    body = _sam()["Resources"]["HttpApi"]["Properties"]["DefinitionBody"]
    in_body = {(m.upper(), path) for path, ops in body["paths"].items() for m in ops}
    routed = {(t[2], t[3]) for t in _sam_triggers() if t[1] == "http"}
    assert in_body == routed
    public = {
        (m.upper(), p) for p, ops in body["paths"].items() for m, op in ops.items() if op["security"] == []
    }
    # the dashboard's shell and assets are public; its fragments authenticate the bearer themselves
    dashboard = {("GET", "/"), ("GET", "/{proxy+}")}
    assert public == {
        ("GET", "/v1/health"),
        ("GET", "/v1/openapi.json"),
        ("POST", "/v1/webhooks/{source}"),
        *dashboard,
    }


SHARED_RESOURCES = {
    "Key": "AWS::KMS::Key",
    "KeyAlias": "AWS::KMS::Alias",
    "Table": "AWS::DynamoDB::Table",
    "BackupBucket": "AWS::S3::Bucket",
    "BackupBucketPolicy": "AWS::S3::BucketPolicy",
    "AlarmTopic": "AWS::SNS::Topic",
    "AccessLogBucket": "AWS::S3::Bucket",
    "AccessLogBucketPolicy": "AWS::S3::BucketPolicy",
    "SweepsDeadLetterQueue": "AWS::SQS::Queue",
    "SweepsDeadLetterAlarm": "AWS::CloudWatch::Alarm",
    **{
        f"{q}{s}": t
        for q in ("Jobs", "Executions", "Tasks", "TaskMessages")
        for s, t in (
            ("Queue", "AWS::SQS::Queue"),
            ("DeadLetterQueue", "AWS::SQS::Queue"),
            ("DeadLetterAlarm", "AWS::CloudWatch::Alarm"),
        )
    },
}


def test_both_files_declare_the_same_data_resources():
    sam, sls = _sam()["Resources"], _sls()["resources"]["Resources"]
    for lid, kind in SHARED_RESOURCES.items():
        assert sam[lid]["Type"] == kind, lid
        assert sls[lid]["Type"] == kind, lid
        if lid not in ("KeyAlias", "Key"):  # names derive from the stack either way
            assert sls[lid]["Properties"] == sam_as_sls(sam[lid]["Properties"]), lid


def _machines(resources: dict, kind: str, name_key: str, definition) -> dict[str, tuple[str, str]]:
    """logical id -> (state machine name without the stack, definition file's stem)"""
    out = {}
    for lid, r in resources.items():
        if r["Type"] == kind:
            name = r["Properties"][name_key]
            name = (name if isinstance(name, str) else name["Fn::Sub"]).split("}-", 1)[-1].strip('"')
            out[lid] = (name, definition(r["Properties"]))
    return out


def test_both_files_deploy_every_shipped_workflow():
    """Each shipped definition is the state machine ``pilothouse-<file>``, in both files alike; the
    only others are the retired per-strategy machines, kept (retained, on the plan definition) for
    executions an earlier release started on them."""
    from pilothouse.services.deployments import PLAN_WORKFLOW, RETIRED_STRATEGY_WORKFLOWS

    shipped = sorted(p.name.removesuffix(".asl.json") for p in WORKFLOWS.glob("*.asl.json"))
    sam = _machines(
        _sam()["Resources"],
        "AWS::Serverless::StateMachine",
        "Name",
        lambda p: p["DefinitionUri"].rsplit("/", 1)[-1].removesuffix(".asl.json"),
    )
    sls = _machines(
        _sls()["resources"]["Resources"],
        "AWS::StepFunctions::StateMachine",
        "StateMachineName",
        lambda p: p["Definition"].split("/")[-1].removesuffix(".asl.json)}"),
    )
    assert sam == sls
    expected = {f"pilothouse-{w}": w for w in shipped} | {
        f"pilothouse-{w}": PLAN_WORKFLOW for w in RETIRED_STRATEGY_WORKFLOWS
    }
    assert dict(sam.values()) == expected
    for lid, (name, _) in sam.items():
        retired = name.removeprefix("pilothouse-") in RETIRED_STRATEGY_WORKFLOWS
        for resource in (_sam()["Resources"][lid], _sls()["resources"]["Resources"][lid]):
            policies = (resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
            assert policies == (("Retain", "Retain") if retired else (None, None)), lid


def test_data_at_rest_is_encrypted_with_the_stacks_key():
    res = _sam()["Resources"]
    assert res["Key"]["Properties"]["EnableKeyRotation"] is True
    assert res["Table"]["Properties"]["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "Key"}
    ttl = res["Table"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    for lid, r in res.items():
        if r["Type"] == "AWS::SQS::Queue":
            assert r["Properties"]["KmsMasterKeyId"] == {"Ref": "Key"}, lid
    enc = res["BackupBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert enc["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Fn::GetAtt": ["Key", "Arn"]}


def test_read_only_routes_get_read_only_table_access():
    """GET routes only read: their functions hold DynamoDBReadPolicy and no write or send policy."""
    for folder, props in _sam_functions().items():
        events = (props.get("Events") or {}).values()
        methods = {ev["Properties"]["Method"] for ev in events if ev["Type"] == "HttpApi"}
        if methods == {"GET"}:
            names = {next(iter(p)) for p in props.get("Policies") or [] if isinstance(p, dict)}
            assert "DynamoDBCrudPolicy" not in names and "SQSSendMessagePolicy" not in names, folder


@pytest.mark.parametrize("folder", FUNCTIONS)
def test_handler_imports(folder):
    """Given functions/<folder>/app.py loaded by path (as Lambda does), then ``handler`` is callable."""
    path = ROOT / "functions" / folder / "app.py"
    spec = importlib.util.spec_from_file_location(f"pilothouse_infra_check_{folder}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(getattr(module, "handler", None))
