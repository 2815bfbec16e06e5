"""``dev``, ``demo`` and ``invoke`` hand over to the local modules; the demo's steps against the real API in
process."""

from __future__ import annotations

import io
import json
import shutil
import sys
import types
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from pilothouse.cli import demo
from pilothouse.cli.client import Client
from tests.support.controlplane import ADMIN_KEY

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def fake_module(monkeypatch):
    def install(name: str, **attrs):
        module = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(module, k, v)
        monkeypatch.setitem(sys.modules, name, module)
        parent, _, child = name.rpartition(".")
        monkeypatch.setattr(sys.modules[parent], child, module, raising=False)
        return module

    return install


def test_dev_passes_its_options(cli, fake_module, tmp_path):
    calls = []
    fake_module("pilothouse.embedded.dev", run_dev=lambda **kw: calls.append(kw))
    result = cli(
        "dev",
        "--host",
        "0.0.0.0",
        "--port",
        "9000",
        "--data-dir",
        str(tmp_path / "d"),
        "--project-dir",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert calls == [
        {"host": "0.0.0.0", "port": 9000, "data_dir": tmp_path / "d", "project_dir": tmp_path, "tls": None}
    ]


def test_dev_defaults(cli, fake_module):
    calls = []
    fake_module("pilothouse.embedded.dev", run_dev=lambda **kw: calls.append(kw))
    assert cli("dev").exit_code == 0
    assert calls[0]["host"] == "127.0.0.1" and calls[0]["port"] == 8080
    assert calls[0]["data_dir"] == Path(".pilothouse") and calls[0]["project_dir"] == Path.cwd()


def test_demo_exit_code_follows_run_demo(cli, fake_module):
    fake_module("pilothouse.cli.demo", run_demo=lambda **kw: 1)
    assert cli("demo", "--port", "0").exit_code == 1
    fake_module("pilothouse.cli.demo", run_demo=lambda **kw: 0)
    assert cli("demo").exit_code == 0


def test_invoke_prints_the_json_result(cli, fake_module, tmp_path):
    calls = []

    def invoke(project_dir, function_name, event):
        calls.append((project_dir, function_name, event))
        return {"statusCode": 200, "body": "hi"}

    fake_module("pilothouse.embedded.functions", invoke=invoke)
    event = tmp_path / "e.json"
    event.write_text('{"rawPath": "/v1/health"}')
    result = cli("invoke", "health", "--event", str(event), "--project-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"statusCode": 200, "body": "hi"}
    assert calls == [(tmp_path, "health", {"rawPath": "/v1/health"})]
    assert cli("invoke", "health", "--event", str(tmp_path / "missing.json")).exit_code == 2


# -- the demo's steps -----------------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path):
    for name in ("greeter", "counter"):
        (tmp_path / "examples" / name).mkdir(parents=True)
        shutil.copy(
            REPO / "examples" / name / "component.yaml", tmp_path / "examples" / name / "component.yaml"
        )
    return tmp_path


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=200), buffer


FAST = demo.Pace(timeout=5, interval=0)


def _add_example(api, project, name: str, state: str) -> None:
    """The example ``name`` registered and brought to ``state`` (Failed: its first deploy fails)."""
    spec = yaml.safe_load((project / "examples" / name / "component.yaml").read_text())
    api.call("POST", "/v1/components", spec)
    if state in ("Failed", "Stopped"):
        if state == "Failed":
            api.provider.broken_components.add(name)
        api.call("POST", f"/v1/components/{name}/deploy", {})
        api.settle()
        api.provider.broken_components.discard(name)
    if state == "Stopped":
        api.call("POST", f"/v1/components/{name}/stop", {})
        api.settle()
    assert api.view(name)["state"] == state


@pytest.fixture(autouse=True)
def bad_versions_roll_back(api):
    """The demo's last step deploys a bad version and expects it rolled back: its error rate fails
    the analysis."""
    for version in demo.BAD_VERSIONS:
        api.provider.metrics[version] = {"requests": 100, "errors": 60}


def test_populate_registers_deploys_scales_and_updates(api, project):
    console, buffer = _console()
    with Client("http://pilothouse.test", api.key) as client:
        run = demo.populate(client, console, project, FAST)
    assert run.problems == [] and run.names == ["counter", "greeter"]
    greeter, counter = api.view("greeter"), api.view("counter")
    assert (greeter["state"], greeter["replicas"], greeter["version"]) == ("Running", 3, "1.0.0")
    assert (counter["state"], counter["version"]) == ("Running", "2.0.0")
    text = buffer.getvalue()
    assert (
        "registered greeter" in text
        and "scaling greeter to 3" in text
        and "canary of counter 2.0.0" in text
        and "rolled back: counter still serves 2.0.0" in text
    )


def test_populate_twice_leaves_running_components_alone(api, project):
    console, _ = _console()
    with Client("http://pilothouse.test", api.key) as client:
        demo.populate(client, console, project, FAST)
        posts = len([r for r in api.requests if r.method == "POST"])
        console, buffer = _console()
        run = demo.populate(client, console, project, FAST)
    assert run.problems == []
    # the second time: only the two (409) registrations; the bad version was rolled back already
    assert len([r for r in api.requests if r.method == "POST"]) == posts + 2
    text = buffer.getvalue()
    assert "is registered already" in text and "left as is" in text
    assert "was rolled back in an earlier run" in text
    deployments = api.call("GET", "/v1/deployments?component=counter&limit=100")["items"]
    assert [d["status"] for d in deployments].count("rolled_back") == 1


def test_populate_retries_a_failed_component(api, project):
    _add_example(api, project, "greeter", "Failed")
    console, _ = _console()
    with Client("http://pilothouse.test", api.key) as client:
        run = demo.populate(client, console, project, FAST)
    assert run.problems == []
    assert api.sent("POST", "/v1/components/greeter/retry")
    assert api.view("greeter")["state"] == "Running"


def test_populate_registers_a_stopped_component_afresh(api, project):
    _add_example(api, project, "counter", "Stopped")
    console, _ = _console()
    with Client("http://pilothouse.test", api.key) as client:
        run = demo.populate(client, console, project, FAST)
    assert run.problems == []
    assert api.sent("DELETE", "/v1/components/counter")
    assert api.view("counter")["version"] == "2.0.0"


def test_populate_notes_a_failed_step_and_goes_on(api, project):
    api.provider.broken_components.add("greeter")
    console, buffer = _console()
    with Client("http://pilothouse.test", api.key) as client:
        run = demo.populate(client, console, project, FAST)
    assert len(run.problems) == 1 and run.problems[0].startswith("deploy greeter:")
    assert api.view("counter")["version"] == "2.0.0"
    assert "not scaling greeter: it is Failed" in buffer.getvalue()


def test_populate_without_examples(api, tmp_path):
    console, _ = _console()
    with Client("http://pilothouse.test", api.key) as client:
        run = demo.populate(client, console, tmp_path, FAST)
    assert run.problems and api.requests == []


def test_summary_shows_table_url_key_and_curl(api, project):
    console, buffer = _console()
    with Client("http://pilothouse.test", api.key) as client:
        demo.populate(client, console, project, FAST)
        console, buffer = _console()
        demo.summary(client, console, "http://pilothouse.test", api.key)
    text = buffer.getvalue()
    assert "greeter" in text and "counter" in text and "2.0.0" in text
    assert f"curl -s -H 'Authorization: Bearer {api.key}' http://pilothouse.test/v1/components" in text


class _FakeServer:
    instances: list[_FakeServer] = []

    def __init__(self, host, port, data_dir, project_dir, *, console=None, admin_key=ADMIN_KEY):
        self.args = (host, port, data_dir, project_dir)
        self.admin_key = admin_key
        self.url = "http://pilothouse.test"
        self.services = object()
        self.started = self.stopped = False
        _FakeServer.instances.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True


def test_run_demo_starts_populates_blocks_and_stops(api, project, monkeypatch):
    import pilothouse.embedded.dev as dev

    _FakeServer.instances.clear()
    monkeypatch.setattr(dev, "DevServer", _FakeServer)
    blocked = []
    monkeypatch.setattr(demo, "block_until_interrupt", lambda: blocked.append(True))
    monkeypatch.setattr(demo, "Pace", lambda: FAST)
    console, buffer = _console()
    code = demo.run_demo("127.0.0.1", 0, project / ".ph", project, console=console)
    assert code == 0
    (server,) = _FakeServer.instances
    assert server.started and server.stopped and blocked == [True]
    assert "Admin key" in buffer.getvalue() and api.key in buffer.getvalue()
    assert api.view("greeter")["replicas"] == 3


def test_run_demo_makes_a_key_when_the_server_has_none(api, project, monkeypatch):
    import pilothouse.embedded.dev as dev
    import pilothouse.services.keys as keys

    class NoKey(_FakeServer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw, admin_key=None)

    monkeypatch.setattr(dev, "DevServer", NoKey)
    made = []

    def create_key(services, **kw):
        made.append(kw)
        return api.key, {"id": "demo"}

    monkeypatch.setattr(keys, "create_key", create_key)
    monkeypatch.setattr(demo, "block_until_interrupt", lambda: None)
    monkeypatch.setattr(demo, "Pace", lambda: FAST)
    console, _ = _console()
    assert demo.run_demo("127.0.0.1", 0, project / ".ph", project, console=console) == 0
    assert made == [{"name": "demo", "role": "admin", "created_by": "demo"}]


def test_run_demo_stops_the_server_even_when_the_api_fails(api, project, monkeypatch):
    import pilothouse.embedded.dev as dev

    class WrongKey(_FakeServer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw, admin_key="ph_other_not-a-key")  # the demo's key is refused

    _FakeServer.instances.clear()
    monkeypatch.setattr(dev, "DevServer", WrongKey)
    monkeypatch.setattr(demo, "block_until_interrupt", lambda: None)
    console, buffer = _console()
    assert demo.run_demo("127.0.0.1", 0, project / ".ph", project, console=console) == 1
    assert _FakeServer.instances[0].stopped
    assert "Unauthorized" in buffer.getvalue()


def test_run_demo_keeps_one_key_across_runs(api, project, monkeypatch):
    """Given a first run that printed the server's admin key
    When the demo runs again on the same data dir (the server makes no key then)
    Then it reuses the kept key (mode 0600) and mints none."""
    import pilothouse.embedded.dev as dev
    import pilothouse.services.keys as keys

    class NoKey(_FakeServer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw, admin_key=None)

    data_dir = project / ".ph"
    monkeypatch.setattr(dev, "DevServer", _FakeServer)
    monkeypatch.setattr(demo, "block_until_interrupt", lambda: None)
    monkeypatch.setattr(demo, "Pace", lambda: FAST)
    assert demo.run_demo("127.0.0.1", 0, data_dir, project, console=_console()[0]) == 0
    kept = data_dir / demo.DEMO_KEY_FILE
    assert kept.read_text().strip() == api.key and (kept.stat().st_mode & 0o777) == 0o600

    monkeypatch.setattr(dev, "DevServer", NoKey)
    monkeypatch.setattr(keys, "create_key", lambda *a, **kw: pytest.fail("a second key was minted"))
    console, buffer = _console()
    assert demo.run_demo("127.0.0.1", 0, data_dir, project, console=console) == 0
    assert api.key in buffer.getvalue()


def test_run_demo_replaces_a_kept_key_that_no_longer_works(api, project, monkeypatch):
    import pilothouse.embedded.dev as dev
    import pilothouse.services.keys as keys

    class NoKey(_FakeServer):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw, admin_key=None)

    data_dir = project / ".ph"
    data_dir.mkdir()
    (data_dir / demo.DEMO_KEY_FILE).write_text("ph_revoked_not-a-key\n")
    made = []

    def create_key(services, **kw):
        made.append(kw)
        return api.key, {"id": "demo"}

    monkeypatch.setattr(dev, "DevServer", NoKey)
    monkeypatch.setattr(keys, "create_key", create_key)
    monkeypatch.setattr(demo, "block_until_interrupt", lambda: None)
    monkeypatch.setattr(demo, "Pace", lambda: FAST)
    assert demo.run_demo("127.0.0.1", 0, data_dir, project, console=_console()[0]) == 0
    assert len(made) == 1 and (data_dir / demo.DEMO_KEY_FILE).read_text().strip() == api.key


def test_try_commands_use_the_wrapper_from_the_project_dir(project, monkeypatch, tmp_path):
    (project / "pilothouse").write_text("#!/bin/sh\n")
    monkeypatch.chdir(project)
    assert demo.cli_command(project) == "./pilothouse"
    monkeypatch.chdir("/")  # elsewhere: the full path of the running CLI, never a bare name
    monkeypatch.setattr("sys.argv", ["/opt/x/.venv/bin/pilothouse", "demo"])
    assert demo.cli_command(project) == "/opt/x/.venv/bin/pilothouse"


def test_demo_output_is_not_wrapped_when_it_is_not_a_terminal(api, project, monkeypatch, capsys):
    import pilothouse.embedded.dev as dev

    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(dev, "DevServer", _FakeServer)
    monkeypatch.setattr(demo, "block_until_interrupt", lambda: None)
    monkeypatch.setattr(demo, "Pace", lambda: FAST)
    assert demo.run_demo("127.0.0.1", 0, project / ".ph", project) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.endswith("it should be rolled back automatically") for line in lines)
    assert any(
        f"curl -s -H 'Authorization: Bearer {api.key}' http://pilothouse.test/v1/components" in line
        for line in lines
    )


def test_a_second_run_leaves_what_the_user_changed_since(api, project):
    """Given a demo run, then the user scales greeter to 2 and takes counter back to 1.0.0
    When the demo runs again
    Then it changes neither: only what is missing is created."""
    console, _ = _console()
    with Client("http://pilothouse.test", api.key) as client:
        demo.populate(client, console, project, FAST)
        api.call("POST", "/v1/components/greeter/scale", {"replicas": 2})
        api.call("POST", "/v1/components/counter/update", {"version": "1.0.0"})
        api.settle()
        posts = len([r for r in api.requests if r.method == "POST"])
        console, buffer = _console()
        run = demo.populate(client, console, project, FAST)
    assert run.problems == []
    assert len([r for r in api.requests if r.method == "POST"]) == posts + 2  # the two 409 registrations
    assert api.view("greeter")["replicas"] == 2 and api.view("counter")["version"] == "1.0.0"
    text = buffer.getvalue()
    assert "was scaled in an earlier run" in text and "was updated to 2.0.0 in an earlier run" in text
