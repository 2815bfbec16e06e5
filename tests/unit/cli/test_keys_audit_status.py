"""``keys``, ``audit``, ``status`` and ``components events --follow``, against the real API in process."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx

import pilothouse
from pilothouse.cli import component_events


def _works(api, secret: str) -> bool:
    """Whether ``secret`` authenticates against the API."""
    with httpx.Client(transport=api, base_url="http://pilothouse.test") as client:
        status = client.get("/v1/components", headers={"Authorization": f"Bearer {secret}"}).status_code
    api.requests.pop()
    return status == 200


def test_keys_create_prints_the_secret_once_prominently(api, cli):
    result = cli("keys", "create", "--name", "ci", "--role", "Deployer", "--expires-in-days", "30")
    assert result.exit_code == 0, result.output
    (req,) = api.sent("POST", "/v1/api-keys")
    assert json.loads(req.content) == {"name": "ci", "role": "deployer", "expires_in_days": 30}
    assert "Idempotency-Key" in req.headers
    secret = re.search(r"ph_\S+", result.stdout)[0]
    assert "not shown again" in result.stderr
    assert _works(api, secret)


def test_keys_create_json_and_bad_role(api, cli):
    result = cli("keys", "create", "-n", "ci", "-r", "viewer", "-o", "json")
    assert _works(api, json.loads(result.stdout)["key"])
    assert cli("keys", "create", "--name", "x", "--role", "root").exit_code == 2
    assert cli("keys", "create", "--role", "admin").exit_code == 2  # --name is required


def test_keys_list_never_shows_secrets_and_revoke(api, cli):
    created = json.loads(cli("keys", "create", "--name", "ci", "--role", "viewer", "-o", "json").stdout)
    secret, kid = created["key"], created["id"]
    listed = cli("keys", "list")
    assert listed.exit_code == 0
    assert (
        "ci" in listed.stdout and secret not in listed.stdout and secret.split("_")[-1] not in listed.stdout
    )
    keys = json.loads(cli("keys", "list", "-o", "json").stdout)["items"]
    assert kid in [k["id"] for k in keys] and secret not in json.dumps(keys)
    revoked = cli("keys", "revoke", kid)
    assert revoked.exit_code == 0 and f"revoked key {kid}" in revoked.stdout
    assert not _works(api, secret)
    missing = cli("keys", "revoke", "nope")
    assert missing.exit_code == 1 and "no API key with id 'nope'" in missing.stderr


def test_audit_filters_and_formats(api, cli):
    api.add("greeter", "Running")  # register and deploy: audited as the admin key
    cli("keys", "create", "--name", "ci", "--role", "viewer")
    table = cli("audit")
    assert table.exit_code == 0, table.output
    assert "deploy_component" in table.stdout and "create_api_key" in table.stdout
    principal = json.loads(cli("audit", "-o", "json").stdout)["items"][0]["principal"]
    filtered = cli(
        "audit", "--principal", principal, "--operation", "deploy_component", "--limit", "5", "-o", "json"
    )
    assert [(a["operation"], a["principal"]) for a in json.loads(filtered.stdout)["items"]] == [
        ("deploy_component", principal)
    ]
    req = api.sent("GET", "/v1/audit")[-1]
    assert dict(req.url.params) == {"limit": "5", "principal": principal, "operation": "deploy_component"}


def test_status_needs_no_key(api, cli, monkeypatch):
    monkeypatch.delenv("PILOTHOUSE_API_KEY")
    result = cli("status")
    assert result.exit_code == 0, result.output
    assert f"Pilothouse {pilothouse.__version__} at http://pilothouse.test: ok" in result.stdout
    assert json.loads(cli("status", "-o", "json").stdout)["status"] == "ok"
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

    api.working = False  # the deploy is requested, not carried out

    def between():
        if not happened:
            happened.append(1)
            api.call("POST", "/v1/components/greeter/deploy", {})

    monkeypatch.setattr(component_events, "time", _StopAfter(api, 3, between))
    result = cli("components", "events", "greeter", "--follow")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("registered") == 1
    assert result.stdout.count("deploy.requested") == 1
    assert result.stdout.index("registered") < result.stdout.index("deploy.requested")
    assert len(api.sent("GET", "/v1/components/greeter/events")) == 3


def test_events_follow_with_a_limit_prints_only_what_is_new_on_later_polls(api, cli, monkeypatch):
    api.add("greeter")
    api.call("POST", "/v1/components/greeter/deploy", {})
    api.settle()
    for n in (2, 3, 1):  # a long history: registered, deploy ..., scale ... events
        api.call("POST", "/v1/components/greeter/scale", {"replicas": n})
        api.settle()
    history = api.call("GET", "/v1/components/greeter/events?limit=500")["items"]
    assert len(history) > 6
    happened = []

    def between():
        if not happened:
            happened.append(1)
            api.call("POST", "/v1/components/greeter/scale", {"replicas": 2})
            api.settle()

    monkeypatch.setattr(component_events, "time", _StopAfter(api, 3, between))
    result = cli("components", "events", "greeter", "--follow", "--limit", "3", "-o", "json")
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    after = api.call("GET", "/v1/components/greeter/events?limit=500")["items"]
    new = after[len(history) :]
    assert [e["id"] for e in printed] == [e["id"] for e in history[-3:] + new]


def test_events_follow_json_is_one_event_per_line(api, cli, monkeypatch):
    api.add("greeter")
    monkeypatch.setattr(component_events, "time", _StopAfter(api, 1))
    result = cli("components", "events", "greeter", "-f", "-o", "json")
    assert [json.loads(line)["type"] for line in result.stdout.splitlines()] == ["registered"]


def test_importing_the_cli_stays_light():
    code = (
        "import sys, pilothouse.cli.main; "
        "heavy = ('boto3', 'botocore', 'aws_lambda_powertools', 'pydantic', 'pilothouse.embedded.dev', "
        "'pilothouse.wiring'); print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
