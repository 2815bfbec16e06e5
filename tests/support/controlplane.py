"""The control plane in process: constants, the gateway-backed API client and the queue drainer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pilothouse.embedded.functions import FunctionPool
from pilothouse.embedded.gateway import LocalGateway

ROOT = Path(__file__).resolve().parents[2]
ADMIN_KEY = "ph_0123456789ab_sample-admin-key-for-events-000"


class Api:
    """Calls the functions through the local gateway's converter, without a socket."""

    def __init__(self, gateway: LocalGateway, key: str | None) -> None:
        self.gateway = gateway
        self.key = key

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "default",
        headers: dict[str, str] | None = None,
        query: str = "",
    ) -> tuple[int, dict[str, str], Any]:
        h = {"content-type": "application/json", **(headers or {})}
        key = self.key if key == "default" else key
        if key:
            h["authorization"] = f"Bearer {key}"
        raw = json.dumps(body).encode() if body is not None and not isinstance(body, (bytes, str)) else body
        if isinstance(raw, str):
            raw = raw.encode()
        status, out_headers, out = self.gateway.handle(method, path, query, h, raw or b"")
        data = json.loads(out) if out else None
        return status, out_headers, data

    def get(self, path: str, **kw):
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw):
        return self.call("POST", path, body if body is not None else {}, **kw)

    def delete(self, path: str, **kw):
        return self.call("DELETE", path, **kw)


def run_jobs(services, pool: FunctionPool | None = None, cloud=None) -> list[str]:
    """Drain the jobs queue through the run_job function (SQS-shaped batches), like the worker."""
    return drain(services, pool, cloud, [services.settings.jobs_queue])


def drain(
    services, pool: FunctionPool, cloud, queues: list[str] | None = None, limit: int = 10_000
) -> list[str]:
    """Deliver visible messages of ``queues`` (default: all) to their functions until none are left;
    return the ids of messages that failed."""
    from pilothouse.embedded.worker import deliver

    sources = [s for s in cloud.queue_sources if queues is None or s.queue in queues]
    failed: list[str] = []
    for _ in range(limit):
        busy = False
        for source in sources:
            messages = services.queue.receive(source.queue, max_messages=source.batch_size)
            if messages:
                busy = True
                failed.extend(deliver(services.queue, source, pool, messages))
        if not busy:
            return failed
    raise AssertionError("queues did not drain")
