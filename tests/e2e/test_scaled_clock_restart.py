"""``pilothouse dev`` on a scaled clock (PILOTHOUSE_CLOCK_SCALE) SIGKILLed in the middle of a scale, and
started again without the scale: the data dir's clock keeps its lead (the times stored by the fast
clock stay in its past), the scale the dead control plane held is taken up and completes, and the
component serves on; a later command works on the unscaled clock."""

from __future__ import annotations

import time

import pytest
import yaml

from pilothouse.clock import parse_iso
from tests.support.e2e import ROOT, DevProcess, events_of, wait_at_rest
from tests.support.processes import replica_pids

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# the greeter, started after a pause read from a file when it exists (replicas slow to start on demand)
SLOW_START = (
    "import os, runpy, sys, time\n"
    "time.sleep(float(open(sys.argv[1]).read()) if os.path.exists(sys.argv[1]) else 0)\n"
    "sys.argv = sys.argv[2:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def test_sigkill_mid_scale_on_a_scaled_clock_then_a_restart_without_it(dev: DevProcess, tmp_path):
    """Given greeter Running under dev at clock scale 10 (its events stamped ahead of the wall clock)
    When a scale to 3 is requested, dev is SIGKILLed while it runs, and dev starts without the scale
    Then greeter ends Running with 3 replicas (exactly those run), its events after the restart are
    stamped after every event before it, and a scale back to 1 completes."""
    dev.clock_scale = 10
    dev.start()
    client = dev.http()
    spec = yaml.safe_load((ROOT / "examples" / "greeter" / "component.yaml").read_text())
    delay = tmp_path / "delay"
    spec["target"]["command"] = [
        "{python}",
        "-c",
        SLOW_START,
        str(delay),
        "examples/greeter/app.py",
        "--port",
        "{port}",
    ]
    assert client.post("/v1/components", json=spec).status_code == 201
    assert client.post("/v1/components/greeter/deploy", json={}).status_code == 202
    wait_at_rest(client, "greeter", timeout=60, want="Running")
    delay.write_text("5")  # the scale's replicas take 5 s to start: it is under way when dev dies
    assert client.post("/v1/components/greeter/scale", json={"replicas": 3}).status_code == 202
    deadline = time.monotonic() + 30
    while "scale.started" not in [e["type"] for e in events_of(client, "greeter")]:  # its job leased
        assert time.monotonic() < deadline, "the scale never started"
        time.sleep(0.05)
    time.sleep(0.5)
    dev.kill()
    delay.unlink()

    dev.clock_scale = 1
    dev.start()
    client = dev.http()
    c = wait_at_rest(client, "greeter", timeout=120, want="Running")
    assert c["replicas"] == 3, c
    pids = {r["pid"] for r in c["placement"]["details"]["replicas"]}
    assert set(replica_pids(dev.data_dir / "processes")) == pids
    events = events_of(client, "greeter")
    times = [parse_iso(e["at"]) for e in events]
    assert times == sorted(times), [(e["type"], e["at"]) for e in events]
    assert times[-1] > time.time()  # the lead the scaled clock took is kept
    assert "scale.resumed" in (types := [e["type"] for e in events]), " ".join(types)  # the dead one's job
    assert client.post("/v1/components/greeter/scale", json={"replicas": 1}).status_code == 202
    assert wait_at_rest(client, "greeter", timeout=60, want="Running")["replicas"] == 1
