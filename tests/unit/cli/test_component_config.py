"""``pilothouse config get|set|import|diff|history|rollback|watch`` against the real API in process;
the contexts commands of the same group keep working."""

from __future__ import annotations

import json

from tests.support.deploying import spec


def _register(api, cli, tmp_path, name="web"):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec(name)))
    result = cli("components", "register", str(path))
    assert result.exit_code == 0, result.output


def test_set_get_history_diff_rollback(api, cli, tmp_path):
    """Given a component, when keys are set twice, then get shows the merged config, history both
    versions, diff the change, and rollback brings the first back as a third version."""
    _register(api, cli, tmp_path)
    assert cli("config", "set", "-c", "web", "db.port=5432", "greeting=hi", "-m", "first").exit_code == 0
    result = cli("config", "set", "-c", "web", "greeting=hello", "-m", "second")
    assert result.exit_code == 0 and "version 2" in result.stdout, result.output
    result = cli("config", "get", "web")
    assert json.loads(result.stdout) == {"db": {"port": 5432}, "greeting": "hello"}
    result = cli("config", "history", "web")
    assert "v2" in result.stdout and "second" in result.stdout and "first" in result.stdout
    result = cli("config", "diff", "web", "1", "2")
    assert '$.greeting: "hi" → "hello"' in result.stdout, result.output
    result = cli("config", "rollback", "web", "1", "-o", "json")
    assert json.loads(result.stdout)["version"]["version"] == 3
    assert json.loads(cli("config", "get", "web").stdout)["greeting"] == "hi"


def test_import_files_and_shared_sets(api, cli, tmp_path):
    """Given .env, YAML and JSON files, import makes versions of a component, a set and an
    environment's overrides; a bad file is refused with its reason and exit 1."""
    _register(api, cli, tmp_path)
    env = tmp_path / "web.env"
    env.write_text("PORT=8080\nDB__HOST=db\n")
    assert cli("config", "import", str(env), "-c", "web").exit_code == 0
    yml = tmp_path / "base.yaml"
    yml.write_text("log_level: debug\n")
    assert cli("config", "import", str(yml), "--set", "base").exit_code == 0
    assert cli("config", "set", "-c", "web", "--include", "base").exit_code == 0
    js = tmp_path / "dev.json"
    js.write_text('{"region": "eu"}')
    assert cli("config", "import", str(js), "--env-overrides", "development").exit_code == 0
    config = json.loads(cli("config", "get", "web").stdout)
    assert config == {"log_level": "debug", "region": "eu", "port": 8080, "db": {"host": "db"}}
    bad = tmp_path / "bad.json"
    bad.write_text("[1]")
    result = cli("config", "import", str(bad), "-c", "web")
    assert result.exit_code == 1 and "object" in result.output
    assert json.loads(cli("config", "get", "--set", "base").stdout)["values"] == {"log_level": "debug"}


def test_watch_prints_the_current_version(api, cli, tmp_path):
    """Given a version, watch --count 1 prints it and stops; the contexts commands still answer."""
    _register(api, cli, tmp_path)
    cli("config", "set", "-c", "web", "a=1")
    result = cli("config", "watch", "web", "--count", "1")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"version": 1, "config": {"a": 1}}
    assert cli("config", "get-contexts").exit_code == 0


def test_secrets_commands_never_print_a_value(api, cli, tmp_path, monkeypatch):
    """Given a value in a file and one in an environment variable, set, rotate, list and describe
    work and print no value; the value was never on the command line."""
    value_file = tmp_path / "value"
    value_file.write_text("file-s3cret-9d1\n")
    result = cli("secrets", "set", "db", "--value-file", str(value_file), "-d", "the db")
    assert result.exit_code == 0 and "v1" in result.stdout, result.output
    (req,) = api.sent("POST", "/v1/secrets")
    assert json.loads(req.content)["value"] == "file-s3cret-9d1"
    monkeypatch.setenv("NEW_DB_VALUE", "env-s3cret-77a")
    result = cli("secrets", "rotate", "db", "--from-env", "NEW_DB_VALUE")
    assert result.exit_code == 0 and "v2" in result.stdout, result.output
    listing = cli("secrets", "list").stdout + cli("secrets", "describe", "db").stdout
    assert "db" in listing and "v2" in listing
    for output in (result.output, listing):
        assert "s3cret" not in output
    assert cli("secrets", "set", "x", "--from-env", "UNSET_VARIABLE_X").exit_code != 0
    assert cli("secrets", "delete", "db", "--yes").exit_code == 0
