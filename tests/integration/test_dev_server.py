"""The embedded local cloud over real HTTP, with real local processes (slow: processes start)."""

from __future__ import annotations

import httpx
import pytest
import yaml

from tests.support.controlplane import ROOT
from tests.support.devserver import client_for, wait_state

pytestmark = pytest.mark.slow


def test_components_over_http_with_real_processes_and_a_restart(dev):
    """Given the local control plane, when a greeter is registered, deployed, scaled, updated, the
    control plane restarted, a broken update tried and the component stopped, then every step shows
    in real processes answering on one stable URL."""
    server = dev()
    c = client_for(server)
    assert httpx.get(server.url + "/v1/health").json()["status"] == "ok"
    spec = yaml.safe_load((ROOT / "examples/greeter/component.yaml").read_text())
    assert c.post("/v1/components", json=spec).status_code == 201
    assert c.post("/v1/components/greeter/deploy", json={}).status_code == 202
    web = wait_state(c, "greeter")
    assert web["state"] == "Running", web["last_error"]
    url = web["url"]
    assert httpx.get(url).json()["version"] == "1.0.0"

    assert c.post("/v1/components/greeter/scale", json={"replicas": 3}).status_code == 202
    assert wait_state(c, "greeter")["replicas"] == 3
    pids = {httpx.get(url).json()["pid"] for _ in range(12)}
    assert len(pids) == 3

    assert c.post("/v1/components/greeter/update", json={"version": "2.0.0"}).status_code == 202
    web = wait_state(c, "greeter")
    assert (web["state"], web["version"], web["url"]) == ("Running", "2.0.0", url)
    assert {httpx.get(url).json()["version"] for _ in range(6)} == {"2.0.0"}

    # a restart of the control plane in the middle: processes stop, then come back on the same URL
    server.stop()
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, timeout=2)
    server = dev()
    c = client_for(server)
    web = c.get("/v1/components/greeter").json()
    assert (web["state"], web["url"], web["replicas"]) == ("Running", url, 3)
    assert httpx.get(url).json()["version"] == "2.0.0"

    # a version that crashes: the update is reverted and 2.0.0 keeps serving
    c.post("/v1/components/greeter/update", json={"version": "3.0.0-broken"})
    web = wait_state(c, "greeter")
    assert (web["state"], web["version"]) == ("Running", "2.0.0")
    assert web["last_error"]["reason"] and web["last_error"]["logs"]
    assert httpx.get(url).json()["version"] == "2.0.0"

    assert c.post("/v1/components/greeter/stop", json={}).status_code == 202
    assert wait_state(c, "greeter")["state"] == "Stopped"
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, timeout=2)
    types = [e["type"] for e in c.get("/v1/components/greeter/events", params={"limit": 100}).json()["items"]]
    assert "restored" in types and "update.reverted" in types and types[-1] == "stop.succeeded"


def test_a_deploy_that_never_gets_healthy_fails_with_output(dev):
    server = dev()
    c = client_for(server)
    spec = yaml.safe_load((ROOT / "examples/counter/component.yaml").read_text())
    spec["version"] = "2.1.0-unhealthy"
    spec["health_check"] = {"path": "/health", "timeout_seconds": 2}
    c.post("/v1/components", json=spec)
    c.post("/v1/components/counter/deploy", json={})
    web = wait_state(c, "counter")
    assert web["state"] == "Failed"
    assert "health" in web["last_error"]["reason"].lower()


def test_the_schedule_scale_setting_runs_the_minute_sweeps_faster(dev, monkeypatch):
    """Given PILOTHOUSE_SCHEDULE_SCALE=10, when the local control plane starts, then each of its
    rate(1 minute) sweeps (template.yaml) is due 6 s after the start, not a minute (the scale of 1,
    and cron left alone: tests/unit/test_scheduler.py)."""
    import time

    from pilothouse.embedded.template import read_cloud
    from pilothouse.settings import get_settings

    minutely = [
        s.rule for s in read_cloud(ROOT, get_settings()).schedules if s.expression == "rate(1 minute)"
    ]
    assert minutely, "template.yaml has minute sweeps"
    monkeypatch.setenv("PILOTHOUSE_SCHEDULE_SCALE", "10")
    started = time.time()
    server = dev()
    assert server.wait_recovered(30)
    for rule in minutely:
        due = server.scheduler.next_fire(rule)
        assert due is not None and started + 5 <= due <= time.time() + 6, (rule, due)


def test_a_scaled_clock_runs_the_control_plane_fast_and_survives_a_restart_without_it(dev, monkeypatch):
    """Given PILOTHOUSE_CLOCK_SCALE=10, when the local control plane starts, then its clock (the
    services', the scheduler's) runs 10x (the minute sweeps due a clock minute, 6 real s, after the
    start) and greeter deploys and scales on it.
    When it is stopped and started again without the scale
    Then its clock keeps the lead it had (never behind a time it stored), greeter is restored
    Running, and a scale to 2 (a job leased, queued, run) completes, every event stamped after the
    ones before the restart."""
    import time

    from pilothouse.clock import ScaledClock, parse_iso, wall_time

    monkeypatch.setenv("PILOTHOUSE_CLOCK_SCALE", "10")
    server = dev()
    clock = server.services.clock
    assert isinstance(clock, ScaledClock) and clock.scale == 10 and server.scheduler._clock is clock
    before, real = clock.time(), time.monotonic()
    time.sleep(0.5)
    assert clock.time() - before >= 10 * (time.monotonic() - real) - 0.5
    assert abs(wall_time(clock) - time.time()) < 1
    due = server.scheduler.next_fire("HealthSweepFunction-EveryMinute")
    assert due is not None and due - clock.time() <= 60
    c = client_for(server)
    spec = yaml.safe_load((ROOT / "examples/greeter/component.yaml").read_text())
    assert c.post("/v1/components", json=spec).status_code == 201
    assert c.post("/v1/components/greeter/deploy", json={}).status_code == 202
    assert wait_state(c, "greeter")["state"] == "Running"
    events = c.get("/v1/components/greeter/events").json()["items"]
    stamped = [parse_iso(e["at"]) for e in events]
    assert max(stamped) > time.time()  # ahead of the wall clock already
    server.stop()

    monkeypatch.delenv("PILOTHOUSE_CLOCK_SCALE")
    server = dev()
    assert server.clock.time() >= max(stamped)
    c = client_for(server)
    assert c.get("/v1/components/greeter").json()["state"] == "Running"
    assert c.post("/v1/components/greeter/scale", json={"replicas": 2}).status_code == 202
    web = wait_state(c, "greeter")
    assert (web["state"], web["replicas"]) == ("Running", 2)
    new = [e for e in c.get("/v1/components/greeter/events").json()["items"] if e not in events]
    assert {"scale.requested", "scale.succeeded"} <= {e["type"] for e in new}, new
    assert min(parse_iso(e["at"]) for e in new) >= max(stamped)
