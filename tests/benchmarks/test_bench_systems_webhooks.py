"""Webhook acknowledgement latency and a ten-component system's deploy time, each beside its anchor
measured in the same run (figures are printed, never asserted)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid

from pilothouse.runtime.events import http_event
from tests.support import deploying
from tests.support.bench import bare_hello, ratio_rows, report
from tests.support.deploying import spec

services, provider, run = deploying.services, deploying.provider, deploying.run
N = int(os.environ.get("BENCH_N", "300"))


def test_webhook_acknowledgement_latency(api, pool, services):
    """p50/p99 of POST /v1/webhooks/{source} for a GitHub-signed push (signature check, delivery
    stored, message queued; SQLite store and local queue), interleaved with the anchor (a bare
    Powertools hello route); every one answered 202 and queued."""
    from pilothouse.embedded.functions import LambdaContext, load_module

    status, _, created = api.post("/v1/webhook-sources", {"name": "gh", "kind": "github"})
    assert status == 201
    secret = created["secret"].encode()
    receive = load_module(pool.functions["ReceiveWebhookFunction"])
    anchor, hello = bare_hello()

    def delivery(i: int) -> dict:
        body = json.dumps(
            {"ref": "refs/heads/main", "after": f"{i:040d}", "repository": {"full_name": "a/b"}}
        )
        headers = {
            "content-type": "application/json",
            "x-github-event": "push",
            "x-github-delivery": str(uuid.uuid4()),
            "x-hub-signature-256": "sha256=" + hmac.new(secret, body.encode(), hashlib.sha256).hexdigest(),
        }
        return http_event(
            "POST", "/v1/webhooks/gh", headers=headers, body=body, path_parameters={"source": "gh"}
        )

    cases = {
        "anchor: bare Powertools hello": (anchor, lambda i: hello),
        "receive_webhook (202)": (receive, delivery),
    }
    samples: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    for i in range(N + 10):
        for label, (fn, make) in cases.items():
            event = make(i)
            t, c = time.perf_counter(), time.thread_time()
            out = fn(event, LambdaContext(label, 30))
            if i >= 10:  # the first ten warm up
                cpu[label].append(time.thread_time() - c)
                samples[label].append(time.perf_counter() - t)
            assert out["statusCode"] in (200, 202), out
    queued = services.queue.depth(services.settings.jobs_queue)
    assert sum(queued.values()) >= N
    report(
        f"webhook acknowledgement, {N} interleaved calls",
        ratio_rows(samples, "anchor: bare Powertools hello", cpu),
    )


def test_ten_component_system_deploy(api, run, clock, provider):
    """A system of ten components (a chain of five waves of two, max_parallel 2) deployed as one
    rollout, against the anchor: the same ten components deployed one by one with their own deploy
    command (same fake provider, same in-process drain). Wall time is the control plane's own work;
    the simulated time is what the rollout's polls cost on the clock."""
    names = [f"c{i:02d}" for i in range(10)]
    for i, name in enumerate(names):
        deps = [names[i - 2]] if i >= 2 else []
        assert api.post("/v1/components", spec(name, dependencies=deps))[0] == 201
        assert api.post("/v1/components", spec(f"anchor-{name}"))[0] == 201
    t = time.perf_counter()
    for name in names:
        assert api.post(f"/v1/components/anchor-{name}/deploy")[0] == 202
        run()
    anchor = time.perf_counter() - t
    assert api.post("/v1/systems", {"name": "ten", "components": [{"name": n} for n in names]})[0] == 201
    start_clock, t = clock.time(), time.perf_counter()
    assert api.post("/v1/systems/ten/deploy")[0] == 202
    polls = 0
    while True:
        run()
        rollout = api.get("/v1/systems/ten")[2]["rollout"]
        if rollout["status"] != "in_progress":
            break
        clock.advance(2)
        polls += 1
    wall = time.perf_counter() - t
    assert rollout["status"] == "succeeded" and len(rollout["waves"]) == 5
    report(
        "ten-component system deploy (fake provider, in-process)",
        {
            "anchor: ten deploy commands one by one": f"{anchor * 1000:.0f} ms wall",
            "system deploy, one rollout": f"{wall * 1000:.0f} ms wall ({wall / anchor:.2f}x the anchor), "
            f"{clock.time() - start_clock:.0f} s simulated ({polls} polls of 2 s)",
        },
    )
