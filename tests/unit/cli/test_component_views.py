"""``components get`` as a tree, and ``components list`` with AGE, -o wide, -o yaml, -l and --watch."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

from pilothouse.cli import component_tree
from pilothouse.cli import components as components_module
from pilothouse.cli.listing import age, matches, parse_selector, watch_changes
from tests.support.specs import spec


def test_get_shows_revisions_weights_and_the_latest_deployment(api, cli):
    api.add("greeter", "Running", version="1.0.0")
    assert (
        cli(
            "components", "update", "greeter", "--version", "2.0.0", "--strategy", "Canary10Percent5Minutes"
        ).exit_code
        == 0
    )
    api.clock = None  # reads never leap the clock over the pause: the canary stays at its first bake
    for _ in range(30):
        if not api.step():
            break
    result = cli("components", "get", "greeter", "--no-health")
    assert result.exit_code == 0, result.output
    text = result.stdout
    dep = api.call("GET", "/v1/deployments?component=greeter&limit=1")["items"][0]
    assert "⟳ greeter" in text
    assert "(stable)  1.0.0  weight 90%" in text and "(canary)  2.0.0  weight 10%" in text
    assert f"{dep['id']} update in_progress; step" in text
    as_yaml = yaml.safe_load(cli("components", "get", "greeter", "-o", "yaml").stdout)
    assert as_yaml["name"] == "greeter" and "spec" in as_yaml


def test_tree_lists_replicas_with_pid_port_and_health():
    class Healthy(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        view = {
            "name": "greeter",
            "state": "Running",
            "placement": {
                "details": {
                    "stable": "r1",
                    "candidate": "r2",
                    "revisions": {
                        "r1": {"version": "1.0.0", "weight": 90, "health_path": "/health"},
                        "r2": {"version": "2.0.0", "weight": 10, "health_path": "/nope"},
                    },
                    "replicas": [
                        {"revision": "r1", "pid": 4242, "port": port, "url": f"http://127.0.0.1:{port}"},
                        {"revision": "r2", "pid": 4343, "port": port, "url": f"http://127.0.0.1:{port}"},
                        {"revision": "r2", "pid": 1, "port": 9, "url": "http://10.1.2.3:9"},
                    ],
                }
            },
        }
        from rich.console import Console

        console = Console(width=200, record=True)
        console.print(component_tree.component_tree(view, None))
        text = console.export_text()
    finally:
        server.shutdown()
        server.server_close()
    assert text.index("revision r1 (stable)") < text.index("revision r2 (canary)")
    assert "weight 90%" in text and "weight 10%" in text
    assert f"pid 4242  port {port}  healthy" in text
    assert "pid 4343" in text and "unhealthy (503)" in text
    assert "pid 1  port 9  -" in text  # not on this machine: not asked


def test_list_has_age_wide_columns_yaml_and_label_selectors(api, cli):
    api.call("POST", "/v1/components", spec("web", labels={"team": "web", "tier": "front"}))
    api.call("POST", "/v1/components", spec("db", labels={"team": "data"}))
    api.call("POST", "/v1/components", spec("bare"))
    table = cli("components", "list")
    assert "AGE" in table.stdout and "LABELS" not in table.stdout
    wide = cli("components", "list", "-o", "wide")
    assert "LABELS" in wide.stdout and "team=web,tier=front" in wide.stdout
    chosen = cli("components", "list", "-l", "team=web", "-o", "json")
    assert [c["name"] for c in json.loads(chosen.stdout)["items"]] == ["web"]
    not_web = cli("components", "list", "-l", "team!=web", "-o", "yaml")
    assert sorted(c["name"] for c in yaml.safe_load(not_web.stdout)["items"]) == ["bare", "db"]
    has_team = cli("components", "list", "-l", "team", "-l", "tier=front", "-o", "json")
    assert [c["name"] for c in json.loads(has_team.stdout)["items"]] == ["web"]
    assert cli("components", "list", "-l", "=x").exit_code == 2


def test_selector_and_age_units():
    reqs = parse_selector(["a=1,b!=2", "c", "d==4"])
    assert reqs == [("a", "=", "1"), ("b", "!=", "2"), ("c", "exists", None), ("d", "=", "4")]
    assert matches({"spec": {"labels": {"a": "1", "c": "", "d": "4"}}}, reqs)
    assert not matches({"spec": {"labels": {"a": "1", "b": "2", "c": "", "d": "4"}}}, reqs)
    from datetime import UTC, datetime

    now = datetime(2026, 1, 2, tzinfo=UTC)
    assert age("2026-01-01T23:59:30Z", now) == "30s"
    assert age("2026-01-01T23:00:00Z", now) == "1h"
    assert age("2025-12-30T00:00:00Z", now) == "3d"
    assert age(None, now) == "-" and age("garbage", now) == "-"


def test_watch_prints_only_what_changes():
    rounds = [
        [{"name": "a", "state": "Running"}, {"name": "b", "state": "Registered"}],
        [{"name": "a", "state": "Running"}, {"name": "b", "state": "Deploying"}],
        [
            {"name": "a", "state": "Running"},
            {"name": "b", "state": "Deploying"},
            {"name": "c", "state": "Registered"},
        ],
    ]
    printed: list[str] = []
    import builtins

    original = builtins.print
    builtins.print = lambda *a, **k: printed.append(a[0])  # type: ignore[assignment]
    try:
        watch_changes(
            iter(rounds[1:]).__next__,
            rounds[0],
            key="name",
            fields=("state",),
            structured=True,
            line=lambda c: c["name"],
            interval=0,
            sleep=lambda _s: None,
            max_polls=2,
        )
    finally:
        builtins.print = original
    assert [json.loads(p)["name"] for p in printed] == ["b", "c"]


def test_list_watch_until_ctrl_c(api, cli, monkeypatch):
    api.add("a")
    polls = []

    def sleep(_s):
        polls.append(1)
        if len(polls) == 1:
            api.call("POST", "/v1/components/a/deploy", {})
        if len(polls) > 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(components_module.time, "sleep", sleep)
    result = cli("components", "list", "--watch", "-o", "json")
    assert result.exit_code == 0, result.output
    first, *changes = result.stdout.split("\n}\n", 1)
    assert json.loads(first + "\n}")["items"][0]["state"] == "Registered"
    assert any(json.loads(line)["state"] != "Registered" for line in changes[0].splitlines() if line.strip())
