"""``keys``, ``audit``, ``status`` and ``components events --follow``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pilothouse.cli import components


@pytest.fixture
def api(fake_api):
    """These tests still run against the scripted fake API (tests/support/fakeapi.py)."""
    return fake_api


def test_keys_create_prints_the_secret_once_prominently(api, cli):
    result = cli("keys", "create", "--name", "ci", "--role", "Deployer", "--expires-in-days", "30")
    assert result.exit_code == 0, result.output
    assert "ph_k1_SECRETSECRETSECRET" in result.stdout
    assert "not shown again" in result.stderr
    (req,) = api.sent("POST", "/v1/api-keys")
    assert json.loads(req.content) == {"name": "ci", "role": "deployer", "expires_in_days": 30}
    assert "Idempotency-Key" in req.headers


def test_keys_create_json_and_bad_role(api, cli):
    result = cli("keys", "create", "-n", "ci", "-r", "viewer", "-o", "json")
    assert json.loads(result.stdout)["key"] == "ph_k1_SECRETSECRETSECRET"
    assert cli("keys", "create", "--name", "x", "--role", "root").exit_code == 2
    assert cli("keys", "create", "--role", "admin").exit_code == 2  # --name is required


def test_keys_list_never_shows_secrets_and_revoke(api, cli):
    cli("keys", "create", "--name", "ci", "--role", "viewer")
    listed = cli("keys", "list")
    assert listed.exit_code == 0
    assert "ci" in listed.stdout and "SECRET" not in listed.stdout
    assert [k["id"] for k in json.loads(cli("keys", "list", "-o", "json").stdout)] == ["k1"]
    revoked = cli("keys", "revoke", "k1")
    assert revoked.exit_code == 0 and "revoked key k1" in revoked.stdout
    assert api.keys[0]["revoked_at"] == "later"
    missing = cli("keys", "revoke", "nope")
    assert missing.exit_code == 1 and "no API key with id 'nope'" in missing.stderr


def test_audit_filters_and_formats(api, cli):
    api.audit = [
        {
            "at": "t2",
            "principal": "key:a",
            "operation": "deploy_component",
            "target": "component:greeter",
            "request_id": "r2",
            "status": 202,
            "outcome": "success",
            "detail": None,
        },
        {
            "at": "t1",
            "principal": "key:b",
            "operation": "create_api_key",
            "target": "apikey:k1",
            "request_id": "r1",
            "status": 201,
            "outcome": "success",
            "detail": {"role": "viewer"},
        },
    ]
    table = cli("audit")
    assert table.exit_code == 0
    assert "deploy_component" in table.stdout and "create_api_key" in table.stdout
    filtered = cli(
        "audit", "--principal", "key:a", "--operation", "deploy_component", "--limit", "5", "-o", "json"
    )
    assert [a["request_id"] for a in json.loads(filtered.stdout)] == ["r2"]
    req = api.sent("GET", "/v1/audit")[-1]
    assert dict(req.url.params) == {"limit": "5", "principal": "key:a", "operation": "deploy_component"}


def test_status_needs_no_key(api, cli, monkeypatch):
    monkeypatch.delenv("PILOTHOUSE_API_KEY")
    result = cli("status")
    assert result.exit_code == 0
    assert "Pilothouse 9.9.9 at http://pilothouse.test: ok" in result.stdout
    assert json.loads(cli("status", "-o", "json").stdout) == {"status": "ok", "version": "9.9.9"}
    assert "Authorization" not in api.requests[0].headers


def test_version_flag(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.startswith("pilothouse ")


class _StopAfter:
    """Stands in for the ``time`` module: its sleep lets ``polls`` polls happen, then acts as Ctrl-C."""

    def __init__(self, api, polls: int, between=None):
        self.left, self.api, self.between = polls, api, between

    def sleep(self, _seconds: float) -> None:
        self.left -= 1
        if self.between:
            self.between()
        if self.left <= 0:
            raise KeyboardInterrupt


def test_events_follow_prints_new_events_once_until_ctrl_c(api, cli, monkeypatch):
    api.add("greeter")
    happened = []

    def between():
        if not happened:
            happened.append(1)
            api._event("greeter", "deploy.requested", "Registered", "Deploying")

    monkeypatch.setattr(components, "time", _StopAfter(api, 3, between))
    result = cli("components", "events", "greeter", "--follow")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("registered") == 1
    assert result.stdout.count("deploy.requested") == 1
    assert result.stdout.index("registered") < result.stdout.index("deploy.requested")
    assert len(api.sent("GET", "/v1/components/greeter/events")) == 3


def test_events_follow_json_is_one_event_per_line(api, cli, monkeypatch):
    api.add("greeter")
    monkeypatch.setattr(components, "time", _StopAfter(api, 1))
    result = cli("components", "events", "greeter", "-f", "-o", "json")
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == ["registered"]


def test_importing_the_cli_stays_light():
    code = (
        "import sys, pilothouse.cli.main; "
        "heavy = ('boto3', 'botocore', 'aws_lambda_powertools', 'pydantic', 'pilothouse.local.dev', "
        "'pilothouse.wiring'); print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
