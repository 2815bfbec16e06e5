"""checkov scans template.yaml (CloudFormation/SAM) and serverless.yml (its serverless runner) and
finds nothing: every check passes or is skipped in the file itself with a reason.

checkov runs from its own tool venv (``.tools/checkov``, built by the Makefile from
requirements-checkov.lock, which `make test` builds first), offline: no API key, ``--skip-download``,
no update check. Outside CI a missing binary skips these tests, saying how to build it; under
CI=true it fails them.
"""

from __future__ import annotations

import functools
import re

import pytest

from . import _tools
from ._tools import ROOT, SERVERLESS, TEMPLATE, checkov_binary, run_checkov


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """checkov's report of one scanned file, each file scanned once per module."""
    home = tmp_path_factory.mktemp("checkov-home")

    @functools.cache
    def scan(name: str) -> dict:
        path, framework = {
            "template.yaml": (TEMPLATE, "cloudformation"),
            "serverless.yml": (SERVERLESS, "serverless"),
        }[name]
        return run_checkov(path, framework, home)

    return scan


def _describe(checks: list[dict]) -> str:
    return "\n".join(f"  {c['check_id']} {c['resource']}: {c['check_name']}" for c in checks)


SCANNED = ["template.yaml", "serverless.yml"]


@pytest.mark.slow  # a scan takes several seconds of CPU
@pytest.mark.parametrize("name", SCANNED)
def test_checkov_finds_nothing(report, name):
    """Given the IaC file, when checkov scans it offline, then no check fails and it parsed the file."""
    found = report(name)
    summary = found["summary"]
    print(f"checkov {name}: {summary}")
    assert summary["parsing_errors"] == 0, summary
    failed = found["results"]["failed_checks"]
    assert failed == [], f"{len(failed)} failed checks in {name}:\n{_describe(failed)}"


@pytest.mark.slow  # a scan takes several seconds of CPU
@pytest.mark.parametrize("name", SCANNED)
def test_checkov_really_scanned_the_resources(report, name):
    """A clean report means something only if checkov evaluated the file's resources: many checks
    passed, on the functions too."""
    found = report(name)
    passed = found["results"]["passed_checks"]
    assert len(passed) > 150, found["summary"]
    resources = {c["resource"] for c in passed}
    assert any("register_component" in r or "RegisterComponentFunction" in r for r in resources)


@pytest.mark.slow  # a scan takes several seconds of CPU
@pytest.mark.parametrize("name", SCANNED)
def test_every_skipped_check_says_why(report, name):
    """Each suppression in the file names a check and gives a reason of its own."""
    skipped = report(name)["results"]["skipped_checks"]
    for check in skipped:
        comment = (check.get("check_result") or {}).get("suppress_comment") or ""
        assert len(comment.strip()) >= 20 and comment != "No comment provided", (
            check["check_id"],
            check["resource"],
            comment,
        )


def test_make_test_builds_checkov_from_the_hashed_lock():
    """Given the Makefile, then `make test` depends on the checkov tool venv, which pip installs
    with --require-hashes from requirements-checkov.lock, where every pin carries its hashes."""
    makefile = (ROOT / "Makefile").read_text()
    test_rule = re.search(r"(?m)^test:(.*)$", makefile)[1]
    assert ".tools/checkov/bin/checkov" in test_rule.split()
    target = r"(?m)^\.tools/checkov/bin/checkov: requirements-checkov\.lock\n((?:\t.*\n)+)"
    rule = re.search(target, makefile)[1]
    assert "--require-hashes -r requirements-checkov.lock" in rule
    lock = (ROOT / "requirements-checkov.lock").read_text()
    pins = re.findall(r"(?m)^([A-Za-z0-9_.-]+)==(\S+) \\$", lock)
    assert ("checkov", "3.3.30") in pins
    blocks = re.split(r"(?m)^(?=[A-Za-z0-9_.-]+==)", lock)[1:]
    assert len(blocks) == len(pins) and all("--hash=sha256:" in b for b in blocks)


def test_a_missing_checkov_skips_outside_ci_and_fails_under_ci(monkeypatch, tmp_path):
    """Given no built checkov, then the scans skip saying how to build it, but fail when CI=true."""
    monkeypatch.setattr(_tools, "CHECKOV", ROOT / "no-such-dir" / "checkov")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make .tools/checkov/bin/checkov"):
        checkov_binary()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="is missing"):
        checkov_binary()
