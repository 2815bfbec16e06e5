"""checkov scans the Azure Bicep (framework bicep) and the Google Cloud Terraform (framework
terraform) offline and finds nothing: every check passes, or is skipped in the file with a reason.

Runs from the checkov tool venv (``.tools/checkov``, see test_checkov.py); skipped outside CI when
it has not been built.
"""

from __future__ import annotations

import functools
import json
import subprocess

import pytest

from ._tools import ROOT, checkov_binary, offline_env

TARGETS = {
    "azure": (ROOT / "infra" / "azure" / "main.bicep", "bicep"),
    "gcp": (ROOT / "infra" / "gcp", "terraform"),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    home = tmp_path_factory.mktemp("checkov-home")

    @functools.cache
    def scan(cloud: str) -> dict:
        path, framework = TARGETS[cloud]
        where = ["--directory", str(path)] if path.is_dir() else ["--file", str(path)]
        done = subprocess.run(
            [
                str(checkov_binary()),
                *where,
                "--framework",
                framework,
                "--output",
                "json",
                "--skip-download",
                "--compact",
            ],
            cwd=path if path.is_dir() else path.parent,
            env=offline_env(home),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode in (0, 1), f"checkov crashed ({done.returncode}):\n{done.stderr[-4000:]}"
        found = json.loads(done.stdout)
        reports = [
            r for r in (found if isinstance(found, list) else [found]) if r.get("check_type") == framework
        ]
        assert reports, f"no {framework} checks ran:\n{done.stdout[:2000]}\n{done.stderr[-2000:]}"
        return reports[0]

    return scan


def _describe(checks: list[dict]) -> str:
    return "\n".join(f"  {c['check_id']} {c['resource']}: {c['check_name']}" for c in checks)


@pytest.mark.slow  # a scan takes several seconds of CPU
@pytest.mark.parametrize("cloud", sorted(TARGETS))
def test_checkov_finds_nothing(report, cloud):
    """Given the cloud's IaC, when checkov scans it offline, then it parsed it, evaluated its
    resources (many checks passed) and no check failed."""
    found = report(cloud)
    summary = found["summary"]
    print(f"checkov {cloud}: {summary}")
    assert summary["parsing_errors"] == 0, summary
    assert summary["passed"] >= 20, summary
    failed = found["results"]["failed_checks"]
    assert failed == [], f"{len(failed)} failed checks in {cloud}:\n{_describe(failed)}"


@pytest.mark.slow
@pytest.mark.parametrize("cloud", sorted(TARGETS))
def test_every_skipped_check_says_why(report, cloud):
    for check in report(cloud)["results"]["skipped_checks"]:
        comment = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(comment.strip()) >= 20 and comment != "No comment provided", (check["check_id"], comment)
