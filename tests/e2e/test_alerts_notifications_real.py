"""Alerts and notifications on the real ``pilothouse dev`` and the real CLI, with receivers on
127.0.0.1: an error-rate rule fires for the flaky counter deployed all-at-once and its signed
notification verifies at the receiver; a receiver answering 500 is retried, then dead-lettered;
the control plane SIGKILLed before the dispatcher ran loses no event. After the restart the control
plane's clock runs 20 times as fast (``PILOTHOUSE_CLOCK_SCALE``): its minute -- of the sweeps, the
metric store and the rule's window -- is 3 real seconds, its retry delays a twentieth of theirs."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import processes
from tests.support.e2e import Cli, DevProcess, kill_marked, make_admin_key
from tests.support.receivers import Receiver

ROOT = Path(__file__).resolve().parents[2]


class TunedDev(DevProcess):
    """``pilothouse dev`` whose notification retries are quick (3 attempts, 1 s first delay)."""

    @property
    def env(self) -> dict[str, str]:
        return {
            **super().env,
            "PILOTHOUSE_NOTIFICATIONS_MAX_ATTEMPTS": "3",
            "PILOTHOUSE_NOTIFICATIONS_RETRY_BASE_SECONDS": "1",
        }


@pytest.fixture
def dev(tmp_path):
    marker = uuid.uuid4().hex
    server = TunedDev(tmp_path / "data", tmp_path, make_admin_key(), marker)
    try:
        yield server
    finally:
        for client in server.clients:
            client.close()
        server.kill()
        kill_marked(marker)
        processes.kill_replicas(server.data_dir / "processes")


def until(what, timeout: float, step: float = 2.0):
    """Poll ``what()`` until it answers something true; that answer (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(step)


class Traffic:
    """GETs to ``url`` in a thread until closed, counting the 500s."""

    def __init__(self, url: str) -> None:
        self.url, self.codes, self.stop = url, [], threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop.is_set():
                try:
                    self.codes.append(client.get(self.url).status_code)
                except httpx.HTTPError:
                    self.codes.append(0)
                time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.mark.timeout(600)  # minute schedules (dispatch, metric collection, the alert sweep) every 3 s
def test_error_rate_alert_signed_notification_dead_letter_and_crash(dev, tmp_path):
    """Given pilothouse dev, a verifying receiver for alert.* and a receiver that answers 500
    When channels are created, counter is registered (and dev is SIGKILLed before its dispatcher
    ran, then started again), deployed at 2.2.0-flaky all-at-once and put under traffic, with an
    error-rate rule errors/requests > 0.2
    Then the registration still reaches the channels; the rule fires; its alert.firing arrives
    signed and verifies; the 500 receiver's deliveries are tried 3 times and dead-lettered."""
    good, bad = Receiver(), Receiver(status=500)
    traffic = None
    try:
        dev.start()
        cli = Cli(dev.url, dev.admin_key)
        created = cli.ok(
            "-o", "json", "notifications", "channels", "create", "ops", "--url", good.url + "/hooks",
            "-e", "alert.*", "-e", "component.*", "-c", "counter",
        ).json()  # fmt: skip
        good.secret = created["secret"]
        cli.ok(
            "notifications", "channels", "create", "broken", "--url", bad.url, "-e", "component.registered"
        )
        spec = yaml.safe_load((ROOT / "examples/counter/component.yaml").read_text())
        spec["version"] = "2.2.0-flaky"
        (tmp_path / "flaky.yaml").write_text(yaml.safe_dump(spec))
        cli.ok("components", "register", str(tmp_path / "flaky.yaml"))
        # the control plane dies before its dispatcher's first run (a minute after start: this
        # first start is on real time) ...
        dev.kill()
        # ... and comes back on a clock 20x as fast: its sweeps (dispatch, collection, alerts), metric
        # minutes and the rule's window every 3 s
        dev.clock_scale = 20
        dev.start()
        cli.ok("components", "deploy", "counter", "--wait")
        # the rule judges the last complete minute as soon as the (6 s) collection has it: no
        # allowance for late datapoints (a rule setting; the evaluation is the same)
        (tmp_path / "rule.yaml").write_text("delay_seconds: 0\n")
        cli.ok(
            "alerts", "rules", "create", "counter-errors", "-k", "metric", "-c", "counter", "-m", "errors",
            "--denominator", "requests", "--stat", "Sum", "--comparator", ">", "--threshold", "0.2",
            "--file", str(tmp_path / "rule.yaml"),
        )  # fmt: skip
        url = cli.ok("-o", "json", "components", "get", "counter").json()["url"]
        traffic = Traffic(url)
        # the registration made before the SIGKILL reaches both channels
        until(lambda: any(r["body"]["type"] == "component.registered" for r in good.received), 150)
        # the 500 receiver: 3 attempts, then the dead letter
        dead = until(
            lambda: cli.ok(
                "-o", "json", "notifications", "deliveries", "broken", "--status", "dead_lettered"
            ).json()["items"],
            150,
        )
        assert dead[0]["attempts"] == 3 and [e["status_code"] for e in dead[0]["log"]] == [500] * 3
        assert len(bad.received) == 3
        # the flaky version's errors: the rule fires from the collected router metrics
        alert = until(
            lambda: (
                (a := cli.ok("-o", "json", "alerts", "get", "counter-errors").json())["state"] == "FIRING"
                and a
            ),
            420,
        )
        # the evaluation that fired it (the latest may already be of a later minute: one of 3 s at 20x,
        # which a loaded machine's traffic thread can leave without a request)
        fired = next(h for h in alert["history"] if h.get("to") == "FIRING")
        assert fired["values"]["values"][0] > 0.2, alert
        firing = until(lambda: [r for r in good.received if r["body"]["type"] == "alert.firing"], 120)
        assert all(good.verified), good.verified
        assert firing[0]["body"]["detail"]["rule"] == "counter-errors"
        assert firing[0]["headers"]["Pilothouse-Signature"].startswith("t=")
        assert 500 in traffic.codes
        log = cli.ok("notifications", "deliveries", "ops").stdout
        assert "alert.firing" in log and "delivered" in log
    finally:
        if traffic is not None:
            traffic.close()
        good.close()
        bad.close()
