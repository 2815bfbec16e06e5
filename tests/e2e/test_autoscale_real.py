"""Load on greeter scales it out and, after the cooldown, back in: the real ``pilothouse dev`` with
its scheduler (collection and autoscale sweeps every minute), real replicas behind the router, and
the ``pilothouse`` CLI (issue 11 §5). The sweeps (``rate(1 minute)``) run on the scheduler's time
scale of 10 (every 6 s); the metrics stay per real minute, so this still takes minutes."""

from __future__ import annotations

import contextlib
import threading
import time

import httpx
import pytest
import yaml

from tests.support.e2e import ROOT, Cli, DevProcess, events_of, wait_at_rest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def _load(url: str, stop: threading.Event, per_second: float) -> None:
    with httpx.Client(base_url=url, timeout=5) as client:
        while not stop.is_set():
            started = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                client.get("/")
            stop.wait(max(0.0, 1 / per_second - (time.monotonic() - started)))


def _replicas_reach(client: httpx.Client, want: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        body = client.get("/v1/components/greeter").json()
        if body["state"] == "Running" and body["replicas"] == want:
            return body
        time.sleep(1)
    decisions = client.get("/v1/components/greeter/autoscaling").json()["decisions"][:5]
    raise AssertionError(f"greeter never reached {want} replicas: {body}; decisions {decisions}")


def test_load_scales_greeter_out_and_back_in(dev: DevProcess, cli: Cli, tmp_path):
    """Given greeter Running with 1 replica and a policy of 2 req/s per replica (scale-in cooldown
    60 s, over the last minute) set with the CLI, its sweeps every 6 s
    When about 12 req/s reach it until it has scaled out
    Then the autoscaler scales it out (events by the autoscaler, a decision with the readings)
    And when the load stops, after the cooldown, it scales back in to 1."""
    dev.schedule_scale = 10  # collection and autoscale sweeps every 6 s
    dev.start()
    client = dev.http()
    spec = yaml.safe_load((ROOT / "examples" / "greeter" / "component.yaml").read_text())
    spec["target"]["grace_seconds"] = 2
    assert client.post("/v1/components", json=spec).status_code == 201
    assert client.post("/v1/components/greeter/deploy", json={}).status_code == 202
    greeter = wait_at_rest(client, "greeter", timeout=60, want="Running")
    # the policy judges the last complete minute (window 1): the scale-in comes a minute after the
    # load stops rather than two (a policy setting; the decision logic is the same)
    (tmp_path / "policy.yaml").write_text("window_minutes: 1\n")
    cli.ok(
        "autoscale", "set", "greeter", "--requests-per-replica", "2",
        "--scale-out-cooldown", "0", "--scale-in-cooldown", "60", "--file", str(tmp_path / "policy.yaml"),
    )  # fmt: skip

    stop = threading.Event()
    # two clients of 6 req/s each: on a loaded machine one sequential client falls short of its
    # rate (a measured 6.4 req/s for 8 stalls at 3 replicas, within 10% of the target)
    loaders = [
        threading.Thread(target=_load, args=(greeter["url"], stop, 6.0), daemon=True) for _ in range(2)
    ]
    for loader in loaders:
        loader.start()
    try:
        out = _replicas_reach(client, 4, timeout=240)
    finally:
        stop.set()
        for loader in loaders:
            loader.join(10)
    assert out["replicas"] == 4  # the spec's max
    scaled = [e for e in events_of(client, "greeter") if e["type"] == "scale.requested"]
    assert scaled and scaled[0]["actor"] == "autoscaler"
    decisions = client.get("/v1/components/greeter/autoscaling").json()["decisions"]
    out_decision = next(d for d in decisions if d["action"] == "scale_out")
    assert out_decision["readings"]["requests_per_replica"] > 2

    back = _replicas_reach(client, 1, timeout=300)
    assert back["replicas"] == 1
    shown = cli.ok("autoscale", "get", "greeter").output
    assert "scale_in" in shown
    metrics = cli.ok("metrics", "greeter", "--metric", "requests", "--since", "15m", "-o", "json").json()
    assert sum(p["value"] or 0 for p in metrics["points"]) > 300
