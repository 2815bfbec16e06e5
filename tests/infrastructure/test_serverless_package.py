"""`serverless package` (serverless@3 from package.json, installed by `make test`) builds
serverless.yml offline: dummy credentials, no telemetry, no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from pilothouse.services.deployments import RETIRED_STRATEGY_WORKFLOWS

from ._tools import ROOT, SERVERLESS, checkov_binary, run_checkov

LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:pilothouse:1"
SLS = ROOT / "node_modules" / ".bin" / "serverless"


def package(tmp_path, *params: str) -> dict:
    """`serverless package --stage test` of a scratch copy; the CloudFormation it would deploy."""
    if not SLS.exists():
        message = "node_modules is missing: run `make test` (npm ci installs serverless@3)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    work = tmp_path / "service"
    work.mkdir()
    shutil.copy(SERVERLESS, work / "serverless.yml")
    shutil.copytree(ROOT / "functions", work / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "shared/pilothouse/workflows", work / "shared/pilothouse/workflows")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "SLS_DEPRECATION_DISABLE": "*",
    }
    started = time.monotonic()
    args = [f"--param=layerArn={LAYER}", *(f"--param={p}" for p in params)]
    done = subprocess.run(
        [str(SLS), "package", "--stage", "test", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, f"serverless package failed after {took:.0f}s:\n{done.stdout}\n{done.stderr}"
    out = work / ".serverless"
    assert (out / "pilothouse.zip").stat().st_size > 0
    return json.loads((out / "cloudformation-template-update-stack.json").read_text())


@pytest.mark.slow
def test_serverless_package_succeeds_offline(tmp_path):
    """Given serverless.yml, functions/ and the shipped workflows in a scratch copy, when
    `serverless package --stage test` runs, then it packages every function and state machine."""
    template = package(tmp_path)
    kinds = [r["Type"] for r in template["Resources"].values()]
    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    assert kinds.count("AWS::Lambda::Function") == len(functions)
    workflows = list((ROOT / "shared/pilothouse/workflows").glob("*.asl.json"))
    retired = len(RETIRED_STRATEGY_WORKFLOWS)  # kept for executions an earlier release started
    assert kinds.count("AWS::StepFunctions::StateMachine") == len(workflows) + retired
    assert kinds.count("AWS::Lambda::EventSourceMapping") == 6  # + the health and notifications queues
    for res in template["Resources"].values():
        if res["Type"] == "AWS::StepFunctions::StateMachine":
            assert isinstance(res["Properties"]["Definition"], dict)  # the ASL file, parsed
            for target in res["Properties"]["DefinitionSubstitutions"].values():
                assert target["Fn::GetAtt"][0] in template["Resources"]


@pytest.mark.slow
def test_checkov_finds_nothing_in_what_serverless_deploys(tmp_path):
    """checkov's serverless runner checks little of a function (credentials, IAM), so the
    CloudFormation that `serverless package` generates is scanned too: given it, when checkov
    scans it offline, then no check fails and every skip (resources.extensions Metadata) says why."""
    checkov_binary()  # skip (fail under CI) before packaging when checkov is missing
    template = package(tmp_path)
    path = tmp_path / "packaged.json"
    path.write_text(json.dumps(template))
    report = run_checkov(path, "cloudformation", tmp_path)
    print(f"checkov packaged serverless.yml: {report['summary']}")
    failed = report["results"]["failed_checks"]
    assert failed == [], "\n".join(f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in failed)
    for check in report["results"]["skipped_checks"]:
        comment = check["check_result"].get("suppress_comment") or ""
        assert len(comment) >= 20 and comment != "No comment provided", check["resource"]


@pytest.mark.slow
def test_serverless_functions_join_the_vpc_only_when_its_params_are_set(tmp_path):
    """Given no VPC params, then the HasVpc condition is false and no ENI permissions are granted
    unconditionally; given subnets and security groups, the functions' VpcConfig names them."""
    template = package(tmp_path, "vpcSubnetIds=subnet-1,subnet-2", "vpcSecurityGroupIds=sg-1")
    cond = template["Conditions"]["HasVpc"]
    assert cond == {"Fn::Not": [{"Fn::Equals": ["subnet-1,subnet-2", ""]}]}
    functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}
    for lid, fn in functions.items():
        branch = fn["Properties"]["VpcConfig"]["Fn::If"]
        assert branch[0] == "HasVpc", lid
        assert branch[1] == {
            "SubnetIds": {"Fn::Split": [",", "subnet-1,subnet-2"]},
            "SecurityGroupIds": {"Fn::Split": [",", "sg-1"]},
        }, lid
    role = template["Resources"]["IamRoleLambdaExecution"]["Properties"]
    assert role["ManagedPolicyArns"]["Fn::If"][0] == "HasVpc"
