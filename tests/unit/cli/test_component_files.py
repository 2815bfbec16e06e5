"""``components validate`` (offline) and ``components apply -f`` (register, or update to match)."""

from __future__ import annotations

import json

import yaml

from tests.support.specs import spec


def _write(tmp_path, doc, name="c.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if isinstance(doc, dict) else doc)
    return str(path)


def test_validate_is_offline_and_names_each_mistake(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("PILOTHOUSE_URL", "http://127.0.0.1:9")  # nothing listens: it must not ask
    ok = cli("components", "validate", _write(tmp_path, spec("greeter")))
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.stdout
    bad = "name: greeter\nprovider: local\nversion: 1.0\ntarget: {comand: [x]}\ncomand: x\n"
    result = cli("components", "validate", _write(tmp_path, bad), "-o", "json")
    assert result.exit_code == 1
    errors = {e["field"]: e["message"] for e in json.loads(result.stdout)["errors"]}
    assert errors["comand"].startswith("unknown key")
    assert "quote it" in errors["version"] and "'1.0'" in errors["version"]
    table = cli("components", "validate", _write(tmp_path, bad))
    assert table.exit_code == 1 and "comand: unknown key" in table.stderr


def test_validate_unreadable_or_not_a_mapping(cli, tmp_path):
    assert cli("components", "validate", str(tmp_path / "missing.yaml")).exit_code == 2
    result = cli("components", "validate", "-", input="- a\n- b\n")
    assert result.exit_code == 1 and "a component spec is a mapping" in result.stderr


def test_apply_registers_then_is_unchanged_then_updates(api, cli, tmp_path):
    path = _write(tmp_path, spec("greeter"))
    first = cli("components", "apply", "-f", path)
    assert first.exit_code == 0, first.output
    assert "registered greeter" in first.stdout
    again = cli("components", "apply", "-f", path)
    assert again.exit_code == 0 and "unchanged" in again.stdout
    api.call("POST", "/v1/components/greeter/deploy", {})
    api.settle()
    changed = _write(tmp_path, spec("greeter", version="2.0.0", config={"greeting": "hello"}))
    dry = cli("components", "apply", "-f", changed, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "-version: 1.0.0" in dry.stdout and "+version: 2.0.0" in dry.stdout
    assert "+  greeting: hello" in dry.stdout and "would update greeter: version, config" in dry.stdout
    assert not api.sent("POST", "/v1/components/greeter/update")
    result = cli("components", "apply", "-f", changed)
    assert result.exit_code == 0, result.output
    (req,) = api.sent("POST", "/v1/components/greeter/update")
    assert json.loads(req.content) == {"version": "2.0.0", "config": {"greeting": "hello"}}


def test_apply_refuses_what_cannot_change_in_place(api, cli, tmp_path):
    assert cli("components", "apply", "-f", _write(tmp_path, spec("greeter"))).exit_code == 0
    moved = _write(tmp_path, spec("greeter", labels={"team": "web"}, scaling={"min": 1, "max": 9}))
    result = cli("components", "apply", "-f", moved)
    assert result.exit_code == 2
    flat = " ".join(result.output.split())
    assert "labels, scaling of greeter cannot change in place" in flat
    assert not api.sent("POST", "/v1/components/greeter/update")


def test_apply_dry_run_of_a_new_component_changes_nothing(api, cli, tmp_path):
    result = cli("components", "apply", "-f", _write(tmp_path, spec("fresh")), "--dry-run")
    assert result.exit_code == 0 and "would register fresh" in result.stdout
    assert not api.sent("POST", "/v1/components")
