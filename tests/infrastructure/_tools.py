"""Offline infrastructure checks: finding the tools (cfn-lint, aws-sam-translator, serverless@3).

cfn-lint and aws-sam-translator belong in the project's dev dependencies; until they are there,
a check runs them under another Python on PATH that has them (``python3``), and skips, saying
why, when none does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SERVERLESS = ROOT / "serverless.yml"
REGION = "us-east-1"


def python_with(module: str) -> str | None:
    """An interpreter that imports ``module``: this one, else ``python3`` on PATH, else None."""
    if importlib.util.find_spec(module) is not None:
        return sys.executable
    other = shutil.which("python3")
    if other and subprocess.run([other, "-c", f"import {module}"], capture_output=True).returncode == 0:
        return other
    return None


def require_python_with(module: str, package: str) -> str:
    python = python_with(module)
    if python is None:
        pytest.skip(f"{package} is not installed (add it to the dev extra of pyproject.toml)")
    return python


def run_python(python: str, script: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_DEFAULT_REGION": REGION}
    return subprocess.run([python, "-c", script, *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=ROOT)


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation short tags kept as their long form."""


def _tag(loader, suffix, node):
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_cfn_yaml(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


# template.yaml's parameters and serverless.yml's params of the same meaning.
SAM_PARAM_TO_SLS = {"LogRetentionInDays": "${param:logRetentionInDays}"}


def sam_as_sls(value):
    """A template.yaml value with its parameter references spelled as serverless.yml's params."""
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in SAM_PARAM_TO_SLS:
            return SAM_PARAM_TO_SLS[value["Ref"]]
        return {k: sam_as_sls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [sam_as_sls(v) for v in value]
    return value
