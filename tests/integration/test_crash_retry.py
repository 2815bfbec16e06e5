"""A retry after a crash-damaged failure goes back to the last good version, afresh: whatever the
failed attempt left recorded (a dead pid, a stable port someone else took since) cannot block it."""

from __future__ import annotations

import os
import signal
import socket

import httpx
import pytest
import yaml

from pilothouse.services.components import repo
from tests.support.controlplane import ROOT
from tests.support.devserver import client_for, wait_state

pytestmark = pytest.mark.slow


def greeter_spec() -> dict:
    spec = yaml.safe_load((ROOT / "examples/greeter/component.yaml").read_text())
    spec["target"]["grace_seconds"] = 2
    spec["health_check"] = {"path": "/health", "timeout_seconds": 10}
    return spec


def test_retry_after_a_failed_rollback_returns_to_the_last_good_version(dev):
    """Given greeter Running 1.0.0 then updated to 2.0.0 (its last good version), and then left as
    the crash session found it: Failed at 3.0.0-broken with 0 replicas, its placement naming dead
    pids and a stable port another process listens on now
    When it is retried
    Then the retry deploys 2.0.0 afresh (the deployment's target is 2.0.0 and it succeeds), the
    component is Running 2.0.0 on a working URL, and the record remembers 2.0.0 as last good."""
    server = dev()
    c = client_for(server)
    assert c.post("/v1/components", json=greeter_spec()).status_code == 201
    assert c.post("/v1/components/greeter/deploy", json={}).status_code == 202
    assert wait_state(c, "greeter")["state"] == "Running"
    assert c.post("/v1/components/greeter/update", json={"version": "2.0.0"}).status_code == 202
    running = wait_state(c, "greeter")
    assert (running["state"], running["version"]) == ("Running", "2.0.0")
    old_port = running["placement"]["details"]["stable_port"]
    server.stop()  # its replicas end: the recorded pids are dead from now on

    services = server.services.__class__(server.services.settings, server.services.clock)
    try:
        record = repo(services).get("greeter")
        broken = dict(record.data)
        broken.update(
            state="Failed",
            version="3.0.0-broken",
            replicas=0,
            url=None,
            operation=None,
            spec={**record.data["spec"], "version": "3.0.0-broken"},
            last_error={"command": "update", "reason": "rollback failed", "logs": []},
        )
        repo(services).update(record, broken, {"type": "test.crash_damage", "actor": "test"})
    finally:
        services.close()

    with socket.socket() as squatter:  # the old stable port is somebody else's now
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", old_port))
        squatter.listen()
        server = dev()
        c = client_for(server)

        r = c.post("/v1/components/greeter/retry", json={})
        assert r.status_code == 202, r.text
        after = wait_state(c, "greeter")

        assert (after["state"], after["version"]) == ("Running", "2.0.0"), after["last_error"]
        assert httpx.get(after["url"], timeout=5).json()["version"] == "2.0.0"
        dep_id = r.json()["operation"]["id"]
        dep = c.get(f"/v1/deployments/{dep_id}").json()
        assert (dep["to_version"], dep["status"]) == ("2.0.0", "succeeded")
        assert repo(server.services).get("greeter").data["last_good"]["version"] == "2.0.0"


def test_stop_works_on_a_running_component_whose_processes_died(dev):
    """Given greeter Running, whose replica processes were killed behind the control plane's back
    When it is stopped
    Then it ends Stopped (the dead pids are no obstacle) and its URL refuses connections."""
    server = dev()
    c = client_for(server)
    assert c.post("/v1/components", json=greeter_spec()).status_code == 201
    assert c.post("/v1/components/greeter/deploy", json={}).status_code == 202
    running = wait_state(c, "greeter")
    for r in running["placement"]["details"]["replicas"]:
        os.killpg(r["pid"], signal.SIGKILL)

    assert c.post("/v1/components/greeter/stop", json={}).status_code == 202
    assert wait_state(c, "greeter")["state"] == "Stopped"
    with pytest.raises(httpx.HTTPError):
        httpx.get(running["url"], timeout=2)
