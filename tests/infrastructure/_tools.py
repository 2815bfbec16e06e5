"""Offline infrastructure checks: finding the tools (cfn-lint, aws-sam-translator, serverless@3,
checkov).

cfn-lint and aws-sam-translator belong in the project's dev dependencies; until they are there,
a check runs them under another Python on PATH that has them (``python3``), and skips, saying
why, when none does.
"""

from __future__ import annotations

import importlib.util
import json
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
    return subprocess.run(
        [python, "-c", script, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


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


# -- checkov: its own tool venv (make .tools/checkov/bin/checkov), run offline ------------------
CHECKOV = ROOT / ".tools" / "checkov" / "bin" / "checkov"


def checkov_binary() -> Path:
    """The tool venv's checkov; skip (fail under CI) when it has not been built."""
    if not CHECKOV.exists():
        built_by = "run `make .tools/checkov/bin/checkov` (or `make test`)"
        message = f"{CHECKOV.relative_to(ROOT)} is missing: {built_by}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return CHECKOV


def offline_env(home: Path) -> dict[str, str]:
    """An environment without credentials, API keys or proxies; no update check, no policy download."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "BC_SKIP_MAPPING": "TRUE",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        "LOG_LEVEL": "WARNING",
    }


def run_checkov(path: Path, framework: str, home: Path) -> dict:
    """checkov's JSON report of ``path`` under ``framework`` (passed, failed and skipped checks)."""
    done = subprocess.run(
        [
            str(checkov_binary()),
            "--file",
            str(path),
            "--framework",
            framework,
            "--output",
            "json",
            "--skip-download",
            "--compact",
        ],
        cwd=path.parent,
        env=offline_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), f"checkov crashed ({done.returncode}):\n{done.stderr[-4000:]}"
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    found = [r for r in reports if r.get("check_type") == framework]
    assert found, f"no {framework} checks ran on {path.name}:\n{done.stdout[:2000]}\n{done.stderr[-2000:]}"
    return found[0]
