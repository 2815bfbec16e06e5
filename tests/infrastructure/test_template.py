"""template.yaml passes cfn-lint and aws-sam-translator's transform, offline; its state machines
are the shipped ASL files, which the engine's validator accepts."""

from __future__ import annotations

import json
import re

import pytest

from pilothouse import engine
from pilothouse.services.deployments import RETIRED_STRATEGY_WORKFLOWS

from ._tools import ROOT, TEMPLATE, load_cfn_yaml, require_python_with, run_python

LINT = r"""
import json, sys
from cfnlint.api import lint, ManualArgs
matches = lint(open(sys.argv[1]).read(), config=ManualArgs(regions=["us-east-1"]))
print(json.dumps([{"rule": m.rule.id, "message": m.message, "path": "/".join(map(str, m.path or []))}
                  for m in matches]))
"""

TRANSFORM = r"""
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:  # the transform asks IAM for managed policy ARNs only by name; none here
    def load(self):
        return {}

template = yaml_parse(open(sys.argv[1]).read())
for logical_id, resource in template["Resources"].items():
    props = resource.get("Properties") or {}
    for key in ("CodeUri", "ContentUri", "DefinitionUri"):
        if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
            props[key] = f"s3://pilothouse-artifacts/{logical_id}/{key}.zip"
print(json.dumps(transform(template, {}, NoManagedPolicies())))
"""


def test_cfn_lint_reports_nothing():
    """Given template.yaml, when cfn-lint checks it for us-east-1, then it reports no error and no warning."""
    python = require_python_with("cfnlint", "cfn-lint")
    done = run_python(python, LINT, str(TEMPLATE))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.fixture(scope="module")
def transformed() -> dict:
    python = require_python_with("samtranslator", "aws-sam-translator")
    done = run_python(python, TRANSFORM, str(TEMPLATE))
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout)


def test_sam_transform_succeeds(transformed):
    """Given template.yaml with local code URIs as s3:// URIs, when SAM transforms it, then every
    function, its triggers and every state machine come out as CloudFormation."""
    resources = transformed["Resources"]
    kinds = [r["Type"] for r in resources.values()]
    functions = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
    assert kinds.count("AWS::Lambda::Function") == len(functions)
    workflows = list((ROOT / "shared/pilothouse/workflows").glob("*.asl.json"))
    retired = len(RETIRED_STRATEGY_WORKFLOWS)  # kept for executions an earlier release started
    assert kinds.count("AWS::StepFunctions::StateMachine") == len(workflows) + retired
    # jobs, executions, tasks, task messages, health, notifications
    assert kinds.count("AWS::Lambda::EventSourceMapping") == 6
    # sweep, workflow_sweep, backup, drill, collect_metrics, autoscale, health_sweep, dispatch_events,
    # alert_sweep
    assert kinds.count("AWS::Scheduler::Schedule") == 9
    assert len(resources) < 500, "CloudFormation's resource limit"
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            assert resource["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_transformed_template_lints_clean(transformed, tmp_path):
    """The transform's output (what CloudFormation deploys) passes cfn-lint too."""
    python = require_python_with("cfnlint", "cfn-lint")
    out = tmp_path / "transformed.json"
    out.write_text(json.dumps(transformed))
    done = run_python(python, LINT, str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def _state_machines() -> dict[str, dict]:
    resources = load_cfn_yaml(TEMPLATE)["Resources"]
    return {
        lid: r["Properties"] for lid, r in resources.items() if r["Type"] == "AWS::Serverless::StateMachine"
    }


def test_every_shipped_workflow_is_a_state_machine():
    shipped = sorted(p.name for p in (ROOT / "shared/pilothouse/workflows").glob("*.asl.json"))
    deployed = sorted({props["DefinitionUri"].rsplit("/", 1)[-1] for props in _state_machines().values()})
    assert deployed == shipped


@pytest.mark.parametrize("logical_id", sorted(_state_machines()))
def test_state_machine_substitutions_and_policies_cover_the_definition(logical_id):
    """Every ${XArn} of the ASL file is substituted by X's ARN, and the machine may invoke X."""
    props = _state_machines()[logical_id]
    text = (ROOT / props["DefinitionUri"]).read_text()
    wanted = set(re.findall(r"\$\{(\w+)\}", text))
    subs = props["DefinitionSubstitutions"]
    assert set(subs) == wanted
    resources = load_cfn_yaml(TEMPLATE)["Resources"]
    for key, value in subs.items():
        target = key.removesuffix("Arn")
        assert value == {"Fn::GetAtt": [target, "Arn"]}
        assert resources[target]["Type"] == "AWS::Serverless::Function"
    invokable = {
        p["LambdaInvokePolicy"]["FunctionName"]["Ref"] for p in props["Policies"] if "LambdaInvokePolicy" in p
    }
    assert invokable == {k.removesuffix("Arn") for k in subs}


@pytest.mark.parametrize("logical_id", sorted(_state_machines()))
def test_state_machine_definition_passes_the_engine_validator(logical_id):
    """Given the ASL file with its ${XArn} placeholders replaced by Lambda ARNs, the engine accepts it."""
    props = _state_machines()[logical_id]
    text = (ROOT / props["DefinitionUri"]).read_text()
    arn = "arn:aws:lambda:us-east-1:123456789012:function:pilothouse-{}"
    text = re.sub(r"\$\{(\w+)Arn\}", lambda m: arn.format(m[1]), text)
    assert engine.validate(json.loads(text)) == []
