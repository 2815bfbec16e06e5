"""``pilothouse components …`` against the real API in process: parsing, output formats, errors, exit
codes."""

from __future__ import annotations

import json
import re
import uuid

from tests.support.specs import spec

GREETER_YAML = """\
name: greeter
provider: local
version: '1.0.0'
target: {command: ['{python}', examples/greeter/app.py, --port, '{port}']}
config: {a: 1}
"""


def test_register_yaml_file_sends_spec_auth_and_idempotency_key(api, cli, tmp_path):
    spec = tmp_path / "c.yaml"
    spec.write_text(GREETER_YAML)
    result = cli("components", "register", str(spec))
    assert result.exit_code == 0, result.output
    assert "registered greeter" in result.stdout
    (req,) = api.sent("POST", "/v1/components")
    assert json.loads(req.content) == {
        "name": "greeter",
        "provider": "local",
        "version": "1.0.0",
        "target": {"command": ["{python}", "examples/greeter/app.py", "--port", "{port}"]},
        "config": {"a": 1},
    }
    assert req.headers["Authorization"] == f"Bearer {api.key}"
    uuid.UUID(req.headers["Idempotency-Key"])  # a fresh uuid4


def test_register_json_from_stdin_with_given_idempotency_key(api, cli):
    result = cli(
        "-o",
        "json",
        "components",
        "register",
        "-",
        "--idempotency-key",
        "k-1",
        input=json.dumps(spec("counter")),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "counter"
    assert api.sent("POST", "/v1/components")[0].headers["Idempotency-Key"] == "k-1"


def test_every_post_gets_its_own_idempotency_key(api, cli):
    api.add("a")
    api.add("b")
    assert cli("components", "deploy", "a").exit_code == 0
    assert cli("components", "deploy", "b").exit_code == 0
    keys = {r.headers["Idempotency-Key"] for r in api.requests if r.method == "POST"}
    assert len(keys) == 2


def test_register_conflict_is_a_readable_problem_and_exit_1(api, cli, tmp_path):
    api.add("greeter")
    path = tmp_path / "c.json"
    path.write_text(json.dumps(spec("greeter")))
    result = cli("components", "register", str(path))
    assert result.exit_code == 1
    assert "Error 409" in result.stderr and "Already exists" in result.stderr
    assert re.search(r"request id: \w+", result.stderr)
    assert result.stdout == ""


def test_register_validation_errors_list_fields(api, cli):
    result = cli("components", "register", "-", input="version: 1\n")
    assert result.exit_code == 1
    assert "Validation failed" in result.stderr
    assert "• name (in stdin): Field required" in result.stderr


def test_register_missing_or_bad_file_is_a_usage_error(api, cli, tmp_path):
    assert cli("components", "register", str(tmp_path / "nope.yaml")).exit_code == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("[1, 2")
    assert cli("components", "register", str(bad)).exit_code == 2
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    result = cli("components", "register", str(listy))
    assert result.exit_code == 2
    assert "mapping" in result.output
    assert api.requests == []


def test_list_table_and_json(api, cli):
    api.add("counter", "Running", version="2.0.0")
    api.add("greeter", "Failed")
    table = cli("components", "list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split("┃")[0].strip() == "NAME"
    assert any(
        "counter" in line and "Running" in line and "2.0.0" in line and "http://127.0.0.1:9/counter" in line
        for line in lines
    )
    as_json = cli("components", "list", "-o", "json")
    assert [c["name"] for c in json.loads(as_json.stdout)["items"]] == ["counter", "greeter"]


def test_list_filters_are_sent_and_state_is_case_insensitive(api, cli):
    api.add("a", "Running")
    api.add("b", "Failed")
    result = cli(
        "-o",
        "json",
        "components",
        "list",
        "--state",
        "failed",
        "--environment",
        "development",
        "--limit",
        "7",
    )
    assert [c["name"] for c in json.loads(result.stdout)["items"]] == ["b"]
    (req,) = api.sent("GET", "/v1/components")
    assert dict(req.url.params) == {"state": "Failed", "environment": "development", "limit": "7"}


def test_list_bad_state_is_a_usage_error(api, cli):
    result = cli("components", "list", "--state", "Sleeping")
    assert result.exit_code == 2
    assert api.requests == []


def test_list_all_follows_next_cursor(api, cli):
    for n in "abcde":
        api.add(n)
    one_page = cli("-o", "json", "components", "list", "--limit", "2")
    assert [c["name"] for c in json.loads(one_page.stdout)["items"]] == ["a", "b"]
    assert "more: --cursor " in one_page.stderr
    cursor = one_page.stderr.split("--cursor ")[1].split()[0]
    rest = cli("-o", "json", "components", "list", "--limit", "2", "--cursor", cursor)
    assert [c["name"] for c in json.loads(rest.stdout)["items"]] == ["c", "d"]
    api.requests.clear()
    every = cli("-o", "json", "components", "list", "--all", "--limit", "2")
    assert [c["name"] for c in json.loads(every.stdout)["items"]] == list("abcde")
    assert len(api.sent("GET", "/v1/components")) == 3  # pages of 2, 2 and 1


def test_get_detail_and_json(api, cli):
    view = api.add("greeter", "Failed")
    reason = view["last_error"]["reason"]
    result = cli("components", "get", "greeter")
    assert result.exit_code == 0
    assert "Failed" in result.stdout and reason[:40] in result.stdout
    assert json.loads(cli("components", "get", "greeter", "-o", "json").stdout)["state"] == "Failed"


def test_get_unknown_is_404_exit_1(api, cli):
    result = cli("components", "get", "ghost")
    assert result.exit_code == 1
    assert "Error 404" in result.stderr and "no component named 'ghost'" in result.stderr


def test_missing_key_is_401(api, cli, monkeypatch):
    monkeypatch.delenv("PILOTHOUSE_API_KEY")
    result = cli("components", "list")
    assert result.exit_code == 1
    assert "401" in result.stderr and "Unauthorized" in result.stderr


def test_api_key_and_url_options_beat_the_environment(api, cli):
    other = api.call("POST", "/v1/api-keys", {"name": "other", "role": "viewer"})["key"]
    result = cli("--api-key", other, "--url", "http://elsewhere.test", "components", "list")
    assert result.exit_code == 0, result.output
    assert api.requests[0].url.host == "elsewhere.test"
    assert api.requests[0].headers["Authorization"] == f"Bearer {other}"


def test_unreachable_api_is_reported(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = cli("--url", "http://127.0.0.1:9", "status")
    assert result.exit_code == 1
    assert "Cannot reach the Pilothouse API" in result.stderr


def test_events_table_json_and_order(api, cli):
    api.add("greeter")
    cli("components", "deploy", "greeter")
    table = cli("components", "events", "greeter")
    assert table.exit_code == 0
    assert "registered" in table.stdout and "deploy.requested" in table.stdout
    oldest_first = json.loads(cli("components", "events", "greeter", "-o", "json").stdout)["items"]
    assert [e["type"] for e in oldest_first][:2] == ["registered", "deploy.requested"]
    newest = cli("components", "events", "greeter", "--order", "desc", "-o", "json")
    newest_first = json.loads(newest.stdout)["items"]
    assert newest_first[-2:] == oldest_first[1::-1]
    assert cli("components", "events", "greeter", "--order", "sideways").exit_code == 2


def test_deregister(api, cli):
    api.add("greeter", "Stopped")
    result = cli("components", "deregister", "greeter")
    assert result.exit_code == 0
    assert api.sent("DELETE", "/v1/components/greeter")
    assert cli("components", "get", "greeter").exit_code == 1


def test_deregister_running_is_illegal_with_allowed_commands(api, cli):
    api.add("greeter", "Running")
    result = cli("components", "deregister", "greeter")
    assert result.exit_code == 1
    assert "Illegal transition" in result.stderr
    assert result.stderr.count("scale, update, rollback, stop") == 1  # listed once
    assert "allowed in Running: scale, update, rollback, stop" in result.stderr


def test_help_and_unknown_options_exit_2(cli):
    assert cli("components", "scale").exit_code == 2
    assert cli("components", "list", "--bogus").exit_code == 2
    assert cli("--help").exit_code == 0


def test_json_lists_are_the_raw_api_answer_and_events_keep_the_paging_hint(api, cli):
    for n in "abc":
        api.add(n)
    page = json.loads(cli("components", "list", "--limit", "2", "-o", "json").stdout)
    assert set(page) == {"items", "next_cursor"} and page["next_cursor"]
    every = json.loads(cli("components", "list", "--all", "--limit", "2", "-o", "json").stdout)
    assert [c["name"] for c in every["items"]] == ["a", "b", "c"] and every["next_cursor"] is None
    api.call("POST", "/v1/components/a/deploy", {})
    events = cli("components", "events", "a", "--limit", "1", "-o", "json")
    body = json.loads(events.stdout)
    assert set(body) == {"items", "next_cursor"} and len(body["items"]) == 1
    assert f"more: --cursor {body['next_cursor']}" in events.stderr


def test_register_mistakes_name_the_file_and_the_mistake(api, cli, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(GREETER_YAML.replace("version: ", "version: 1.0\n# was: ").replace("command:", "comand:"))
    result = cli("components", "register", str(path))
    assert result.exit_code == 1, result.output
    assert f"target.comand (in {path})" in result.stderr and "unknown key 'comand'" in result.stderr
    assert f"version (in {path})" in result.stderr and "put the value in quotes" in result.stderr
    assert "(in body)" not in result.stderr
