"""`serverless package` (serverless@3 from package.json, installed by `make test`) builds
serverless.yml offline: dummy credentials, no telemetry, no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from ._tools import ROOT, SERVERLESS

LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:pilothouse:1"
SLS = ROOT / "node_modules" / ".bin" / "serverless"


@pytest.mark.slow
def test_serverless_package_succeeds_offline(tmp_path):
    """Given serverless.yml, functions/ and the shipped workflows in a scratch copy, when
    `serverless package --stage test` runs, then it packages every function and state machine."""
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
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
        "SLS_TELEMETRY_DISABLED": "1", "SLS_NOTIFICATIONS_MODE": "off", "SLS_DEPRECATION_DISABLE": "*",
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(SLS), "package", "--stage", "test", f"--param=layerArn={LAYER}"],
        cwd=work, env=env, capture_output=True, text=True, timeout=240,
    )
    took = time.monotonic() - started
    assert done.returncode == 0, f"serverless package failed after {took:.0f}s:\n{done.stdout}\n{done.stderr}"
    out = work / ".serverless"
    template = json.loads((out / "cloudformation-template-update-stack.json").read_text())
    kinds = [r["Type"] for r in template["Resources"].values()]
    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    assert kinds.count("AWS::Lambda::Function") == len(functions)
    workflows = list((ROOT / "shared/pilothouse/workflows").glob("*.asl.json"))
    assert kinds.count("AWS::StepFunctions::StateMachine") == len(workflows)
    assert kinds.count("AWS::Lambda::EventSourceMapping") == 4
    for res in template["Resources"].values():
        if res["Type"] == "AWS::StepFunctions::StateMachine":
            assert isinstance(res["Properties"]["Definition"], dict)  # the ASL file, parsed
            for target in res["Properties"]["DefinitionSubstitutions"].values():
                assert target["Fn::GetAtt"][0] in template["Resources"]
    assert (out / "pilothouse.zip").stat().st_size > 0
