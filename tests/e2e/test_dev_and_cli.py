"""End to end: the real ``pilothouse dev`` subprocess, driven by the real ``pilothouse`` CLI, with the
example services running as real local processes; Ctrl-C and a restart in the middle."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest
import yaml

from tests.support.e2e import (
    ROOT,
    Cli,
    DevProcess,
    events_of,
    marked_pids,
    refuses_connections,
    wait_at_rest,
)

pytestmark = pytest.mark.slow


def component(cli: Cli, name: str) -> dict:
    """The component as ``components list -o json`` shows it (None if it is not listed)."""
    listed = cli.ok("components", "list", "-o", "json").json()["items"]
    return next((c for c in listed if c["name"] == name), None)


def answer(url: str) -> dict:
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def assert_stops_cleanly(dev: DevProcess, urls: list[str]) -> None:
    """Ctrl-C: exit code 0 within a few seconds, every component URL refuses connections and no
    process the control plane started is left."""
    started = time.monotonic()
    code = dev.interrupt(timeout=15)
    took = time.monotonic() - started
    assert code == 0, f"exit code {code}:\n{dev.log()}"
    assert took < 10, f"Ctrl-C took {took:.1f}s:\n{dev.log()}"
    for url in urls:
        assert refuses_connections(url), f"{url} still accepts connections after Ctrl-C"
    assert marked_pids(dev.marker) == [], "example processes outlived the control plane"


def test_a_component_lifecycle_through_the_cli_survives_a_ctrl_c_restart(dev: DevProcess, cli: Cli):
    """Given a fresh ``pilothouse dev`` subprocess with a seeded admin key,
    when the CLI registers greeter and counter, deploys, scales and updates greeter, asks for a
    counter deploy without waiting and Ctrl-C stops the control plane at once, then it is started
    again on the same data dir, a broken update is tried, greeter is stopped and deregistered,
    then every step shows in real processes behind one stable URL: the restart brings the
    components back on the same URLs, the queued deploy still completes, the audit trail keeps
    its records, the broken update fails with its reason while 2.0.0 keeps serving, and a
    deregistered component keeps its history."""
    # Given
    dev.start()
    assert cli.ok("status", "-o", "json").json()["status"] == "ok"

    # When / Then: register both examples, deploy greeter
    assert "registered greeter" in cli.ok("components", "register", "examples/greeter/component.yaml").stdout
    assert "registered counter" in cli.ok("components", "register", "examples/counter/component.yaml").stdout
    deployed = cli.ok("components", "deploy", "greeter", "--wait")
    assert "deploy.succeeded" in deployed.stdout and "Running" in deployed.stdout
    greeter = component(cli, "greeter")
    assert (greeter["state"], greeter["version"], greeter["replicas"]) == ("Running", "1.0.0", 1)
    url = greeter["url"]
    assert url.startswith("http://127.0.0.1:")
    assert component(cli, "counter")["state"] == "Registered"
    assert answer(url)["version"] == "1.0.0"

    # scale to 3: the stable URL spreads requests over 3 processes
    cli.ok("components", "scale", "greeter", "3", "--wait")
    assert component(cli, "greeter")["replicas"] == 3
    pids = {answer(url)["pid"] for _ in range(15)}
    assert len(pids) == 3, pids

    # update to 2.0.0 on the same URL
    updated = cli.ok("components", "update", "greeter", "--version", "2.0.0", "--wait")
    assert "update.succeeded" in updated.stdout
    greeter = component(cli, "greeter")
    assert (greeter["state"], greeter["version"], greeter["url"], greeter["replicas"]) == (
        "Running",
        "2.0.0",
        url,
        3,
    )
    assert {answer(url)["version"] for _ in range(6)} == {"2.0.0"}
    audit_before = cli.ok("audit", "-o", "json", "--limit", "500").json()["items"]
    assert {"register_component", "deploy_component", "scale_component", "update_component"} <= {
        a["operation"] for a in audit_before
    }

    # a deploy enqueued immediately before Ctrl-C
    queued = cli.ok("components", "deploy", "counter", "-o", "json").json()
    assert queued["state"] == "Deploying"
    assert_stops_cleanly(dev, [url])
    assert "stopped" in dev.log()

    # the same data dir again: the components come back on the same URLs
    dev.start()
    counter = wait_at_rest(dev.http(), "counter", timeout=30)
    assert counter["state"] == "Running", counter
    assert answer(counter["url"])["version"] == "1.0.0"
    greeter = component(cli, "greeter")
    assert (greeter["state"], greeter["url"], greeter["version"], greeter["replicas"]) == (
        "Running",
        url,
        "2.0.0",
        3,
    )
    assert len({answer(url)["pid"] for _ in range(15)}) == 3
    assert answer(url)["version"] == "2.0.0"
    assert "restored" in [e["type"] for e in events_of(dev.http(), "greeter")]
    audit_after = cli.ok("audit", "-o", "json", "--limit", "500").json()["items"]
    assert {a["request_id"] for a in audit_before} <= {a["request_id"] for a in audit_after}
    assert any(
        a["operation"] == "deploy_component" and a["target"] == "component:counter" for a in audit_after
    )

    # a version that crashes at start: non-zero with the reason, 2.0.0 keeps serving
    broken = cli("components", "update", "greeter", "--version", "3.0.0-broken", "--wait")
    assert broken.code != 0, str(broken)
    assert (
        "update of greeter failed" in broken.stderr
        and "ended rolled_back: HealthCheckFailed" in broken.stderr
    )
    assert broken.stdout.count("crashing on purpose (--crash)") == 1, str(broken)  # the reason once there
    assert "exited with code" in broken.stderr and "crashing on purpose" in broken.stderr, str(broken)
    greeter = component(cli, "greeter")
    assert (greeter["state"], greeter["version"], greeter["url"]) == ("Running", "2.0.0", url)
    assert greeter["last_error"]["reason"]
    assert {answer(url)["version"] for _ in range(6)} == {"2.0.0"}

    # stop: Stopped and nothing listens; deregister: gone, history kept
    stopped = cli.ok("components", "stop", "greeter", "--wait")
    assert "greeter is Stopped" in stopped.stdout
    assert component(cli, "greeter")["state"] == "Stopped"
    assert refuses_connections(url)
    assert "deregistered greeter" in cli.ok("components", "deregister", "greeter").stdout
    assert component(cli, "greeter") is None
    assert cli("components", "get", "greeter").code == 1
    history = cli.ok("components", "events", "greeter", "--limit", "500", "-o", "json").json()["items"]
    types = [e["type"] for e in history]
    for expected in (
        "registered",
        "deploy.succeeded",
        "scale.succeeded",
        "update.succeeded",
        "restored",
        "update.reverted",
        "stop.succeeded",
        "deregistered",
    ):
        assert expected in types, types
    assert types[-1] == "deregistered"
    table = cli.ok("components", "events", "greeter", "--limit", "500").stdout
    assert "update.reverted" in table and "deregistered" in table

    # Ctrl-C once more: counter's process goes with it
    assert_stops_cleanly(dev, [counter["url"]])


RACERS = 50
SLOW_START_SECONDS = 2


def test_racing_conflicting_commands_have_exactly_one_winner(dev: DevProcess):
    """Given greeter Running on 1.0.0 with one replica in a ``pilothouse dev`` subprocess,
    when 50 threads released by one barrier each POST a scale, stop or update to it over HTTP,
    then exactly one gets 202 and the 49 others 409 problem+json (an illegal transition naming the
    state, or a lost conditional write), the component's events gain exactly one ``*.requested``
    event, and the winning command finishes."""
    # Given
    dev.start()
    admin = dev.http()
    spec = yaml.safe_load((ROOT / "examples/greeter/component.yaml").read_text())
    # each new replica takes a while to start, so a winning scale or update is still in its
    # transition when the last loser is answered (else a late loser could legally win too)
    spec["target"]["command"] = [
        "sh",
        "-c",
        f'sleep {SLOW_START_SECONDS}; exec "$0" examples/greeter/app.py --port {{port}} "$@"',
        "{python}",
    ]
    assert admin.post("/v1/components", json=spec).status_code == 201
    assert admin.post("/v1/components/greeter/deploy", json={}).status_code == 202
    running = wait_at_rest(admin, "greeter")
    assert running["state"] == "Running", running
    before = len(events_of(admin, "greeter"))

    commands = [("scale", {"replicas": 2}), ("stop", {}), ("update", {"version": "2.0.0"})]
    clients = [dev.http() for _ in range(RACERS)]
    for c in clients:  # connections opened before the race, so the requests go out together
        assert c.get("/v1/health").status_code == 200
    barrier = threading.Barrier(RACERS)
    results: list[tuple[str, httpx.Response | BaseException]] = [None] * RACERS  # type: ignore[list-item]

    def race(i: int) -> None:
        command, body = commands[i % len(commands)]
        try:
            barrier.wait(timeout=30)
            results[i] = (
                command,
                clients[i].post(
                    f"/v1/components/greeter/{command}",
                    json=body,
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                ),
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[i] = (command, exc)

    # When
    threads = [threading.Thread(target=race, args=(i,)) for i in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for c in clients:
        c.close()

    # Then
    errors = [(cmd, r) for cmd, r in results if isinstance(r, BaseException)]
    assert not errors, errors
    statuses = sorted(r.status_code for _, r in results)
    assert statuses == [202] + [409] * (RACERS - 1), statuses
    winner = next(cmd for cmd, r in results if r.status_code == 202)
    for _, r in results:
        if r.status_code == 409:
            assert r.headers["content-type"].startswith("application/problem+json"), r.headers
            problem = r.json()
            assert problem["status"] == 409, problem
            if problem["type"].endswith("/illegal-transition"):
                # lost after the winner's write: the answer names the state and what it allows
                assert problem["state"] in ("Scaling", "Updating", "Stopping", "Stopped"), problem
                assert isinstance(problem["allowed_commands"], list), problem
            else:
                # lost the conditional write itself, racing the winner on the same record version
                assert problem["type"].endswith("/version-conflict"), problem
                assert "greeter" in problem["detail"], problem

    final = wait_at_rest(admin, "greeter", timeout=30)
    new = events_of(admin, "greeter")[before:]
    requested = [e["type"] for e in new if e["type"].endswith(".requested")]
    assert requested == [f"{winner}.requested"], [e["type"] for e in new]
    assert new[-1]["type"] == f"{winner}.succeeded", [e["type"] for e in new]
    expected = {
        "scale": ("Running", 2, "1.0.0"),
        "stop": ("Stopped", 0, None),
        "update": ("Running", 1, "2.0.0"),
    }[winner]
    assert final["state"] == expected[0] and final["last_error"] is None, final
    if expected[0] == "Running":
        assert (final["replicas"], final["version"]) == expected[1:], final
        assert answer(running["url"])["version"] == expected[2]
    else:
        assert refuses_connections(running["url"])
    admin.close()


def test_bad_input_through_the_cli_is_refused_with_the_reason(dev: DevProcess, cli: Cli, tmp_path):
    """Given a running ``pilothouse dev`` subprocess,
    when the CLI registers a spec whose name is not a valid component name, or runs without an
    API key,
    then it exits 1, printing the offending field, or the 401; and nothing was registered."""
    dev.start()
    spec = yaml.safe_load((ROOT / "examples/greeter/component.yaml").read_text())
    spec["name"] = "Not_A_Valid_Name!"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec))

    refused = cli("components", "register", str(bad))
    assert refused.code == 1, str(refused)
    assert "422" in refused.stderr and "name" in refused.stderr, str(refused)
    assert "pattern" in refused.stderr, str(refused)

    anonymous = cli("components", "list", key=None)
    assert anonymous.code == 1, str(anonymous)
    assert "401" in anonymous.stderr, str(anonymous)
    wrong = cli(
        "components",
        "register",
        "examples/greeter/component.yaml",
        key=dev.admin_key.rsplit("_", 1)[0] + "_" + "0" * 32,
    )
    assert wrong.code == 1 and "401" in wrong.stderr, str(wrong)

    assert cli.ok("components", "list", "-o", "json").json()["items"] == []
    assert_stops_cleanly(dev, [])


SLOW_DEPLOYS = 4  # as many as the local worker has pollers per queue source


def test_work_in_flight_at_ctrl_c_is_not_lost_across_a_restart(dev: DevProcess, cli: Cli):
    """Given ``pilothouse dev`` busy with four slow deploys (a version that never gets healthy,
    so each takes seconds to fail),
    when the CLI asks for a counter deploy without waiting, Ctrl-C stops the control plane at
    once, and it starts again on the same data dir,
    then the stop is still clean, the counter deploy is neither lost nor run twice (counter ends
    Running and serving, with one ``deploy.requested`` and one ``deploy.succeeded``), and the
    slow deploys come to rest as Failed instead of staying Deploying."""
    dev.start()
    admin = dev.http()
    counter_spec = yaml.safe_load((ROOT / "examples/counter/component.yaml").read_text())
    assert admin.post("/v1/components", json=counter_spec).status_code == 201
    slow = [f"slow-{i}" for i in range(SLOW_DEPLOYS)]
    for name in slow:
        spec = {
            **counter_spec,
            "name": name,
            "version": "2.1.0-unhealthy",
            "health_check": {"path": "/health", "timeout_seconds": 5},
        }
        assert admin.post("/v1/components", json=spec).status_code == 201
    for name in slow:  # one at a time, so that each is picked up on its own
        assert admin.post(f"/v1/components/{name}/deploy", json={}).status_code == 202
        deadline = time.monotonic() + 5
        while "deploy.started" not in [e["type"] for e in events_of(admin, name)]:
            assert time.monotonic() < deadline, f"{name} did not start: {events_of(admin, name)}"
            time.sleep(0.05)

    # When
    queued = cli.ok("components", "deploy", "counter", "-o", "json").json()
    assert queued["state"] == "Deploying"
    assert_stops_cleanly(dev, [])
    dev.start()

    # Then
    admin = dev.http()
    counter = wait_at_rest(admin, "counter", timeout=30)
    assert counter["state"] == "Running", counter
    assert answer(counter["url"])["version"] == "1.0.0"
    types = [e["type"] for e in events_of(admin, "counter")]
    assert types.count("deploy.requested") == 1 and types.count("deploy.succeeded") == 1, types
    for name in slow:
        assert wait_at_rest(admin, name, timeout=30)["state"] == "Failed"
