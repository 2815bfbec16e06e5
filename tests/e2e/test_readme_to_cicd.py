"""End to end: the readme-to-cicd platform on real local processes, as ``make run`` shows it.

:func:`pilothouse.cli.demo_platform.run_platform` (the demo's steps 6-8) runs against an in-process
``pilothouse dev`` over real HTTP: the three example services start as real processes, the system
deploys them in dependency order, a GitHub-signed push of tag v2.0.0 makes the system roll the
parser out as a canary, and the ``readme-to-cicd`` workflow calls parser → detector → generator
through HTTP tasks and keeps the generated pipeline as a blob.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from pilothouse.cli.client import Client
from pilothouse.cli.demo_platform import run_platform
from pilothouse.embedded.dev import DevServer
from tests.support import processes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = f"ph_{uuid.uuid4().hex[:12]}_e2e-readme-to-cicd-admin-key-000"


@pytest.fixture
def server(env, monkeypatch) -> Iterator[DevServer]:
    monkeypatch.setenv("PILOTHOUSE_ADMIN_KEY", ADMIN_KEY)
    monkeypatch.setenv("PILOTHOUSE_PROJECT_DIR", str(ROOT))
    monkeypatch.setenv("PILOTHOUSE_SYSTEM_POLL_SECONDS", "1")
    dev = DevServer("127.0.0.1", 0, env / "data", ROOT)
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()
        processes.kill_replicas(env / "data" / "processes")


def test_the_platform_deploys_rolls_out_a_webhook_canary_and_turns_a_readme_into_a_pipeline(server):
    """Given the control plane, when the demo's platform steps run, then nothing goes wrong: the
    system's three members run (the parser on 2.0.0 after the signed push, by a canary deployment),
    the webhook's delivery is kept as processed, and the workflow's output names a blob holding a
    GitHub Actions workflow that parses and names the commands of the sample README."""
    console = Console(record=True, width=200)
    with Client(server.url, ADMIN_KEY, timeout=30) as client:
        problems = run_platform(client, console, ROOT, server.services.blobs.get, timeout=180)
        shown = console.export_text()
        assert problems == [], shown
        system = client.get("/v1/systems/readme-to-cicd")
        assert system["version_set"] == {
            "rtc-parser": "2.0.0",
            "rtc-detector": "1.0.0",
            "rtc-generator": "1.0.0",
        }
        assert {m["state"] for m in system["members"]} == {"Running"}
        [update] = [
            r for r in client.get("/v1/systems/readme-to-cicd/rollouts")["items"] if r["action"] == "update"
        ]
        assert update["status"] == "succeeded" and update["members"]["rtc-parser"]["step"] == "succeeded"
        deployment = client.get("/v1/deployments", component="rtc-parser", limit=1)["items"][0]
        assert deployment["to_version"] == "2.0.0" and deployment["status"] == "succeeded"
        assert "canary" in str(deployment.get("strategy"))
        [delivery] = client.get("/v1/webhook-sources/github/deliveries")["items"]
        assert delivery["status"] == "processed" and delivery["event"]["tag"] == "v2.0.0"
        runs = client.get("/v1/workflows/readme-to-cicd/executions")["items"]
        done = client.get(f"/v1/workflows/readme-to-cicd/executions/{runs[0]['name']}")
    output = done["output"]
    assert output["blob"].startswith("artifacts/readme-to-cicd/") and output["parser_version"] == "2.0.0"
    pipeline = yaml.safe_load(server.services.blobs.get(output["blob"]))
    names = [s["name"] for s in pipeline["jobs"]["ci"]["steps"]]
    assert {"Install: pip install -e .", "Test: pytest -q", "Test: npm test", "Build: npm run build"} <= set(
        names
    )
    assert output["steps"] == names and output["languages"] == ["python", "javascript"]
    assert "Test: pytest -q" in shown  # the demo printed the pipeline
