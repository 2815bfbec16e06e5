"""Shared fixtures: an isolated control plane per test (SQLite under tmp_path), an admin key,
functions invoked from template.yaml exactly as the local gateway invokes them."""

from __future__ import annotations

import ipaddress
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from pilothouse.local.functions import FunctionPool
from pilothouse.local.gateway import LocalGateway
from pilothouse.local.template import read_cloud
from pilothouse.settings import get_settings
from pilothouse.wiring import get_services, reset_services

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "ph_0123456789ab_sample-admin-key-for-events-000"


@pytest.fixture
def project_dir() -> Path:
    return ROOT


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh embedded environment: SQLite store and queue in tmp_path."""
    monkeypatch.setenv("PILOTHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PILOTHOUSE_STORE", "sqlite")
    monkeypatch.setenv("PILOTHOUSE_QUEUE", "local")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("PILOTHOUSE_ADMIN_KEY", raising=False)
    reset_services()
    yield tmp_path
    reset_services()


@pytest.fixture
def services(env):
    return get_services(get_settings())


@pytest.fixture
def clock():
    from pilothouse.clock import ManualClock

    return ManualClock(1_800_000_000.0)


@pytest.fixture
def manual_services(env, clock):
    """Services on a manual clock (queue delays, waits and leases move only when the test says)."""
    from pilothouse.wiring import Services, register_services

    s = Services(get_settings(), clock)
    register_services(s)
    return s


@pytest.fixture
def admin_key(services) -> str:
    from pilothouse.services.keys import ensure_key

    ensure_key(services, ADMIN_KEY, name="test admin")
    return ADMIN_KEY


@pytest.fixture(scope="session")
def cloud():
    from pilothouse.settings import Settings

    return read_cloud(ROOT, Settings())


@pytest.fixture(scope="session")
def pool(cloud) -> FunctionPool:
    return FunctionPool(cloud.functions)


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


@pytest.fixture
def api(cloud, pool, admin_key) -> Api:
    return Api(LocalGateway(cloud.routes, pool), admin_key)


def run_jobs(services, pool: FunctionPool | None = None, cloud=None) -> list[str]:
    """Drain the jobs queue through the run_job function (SQS-shaped batches), like the worker."""
    return drain(services, pool, cloud, [services.settings.jobs_queue])


def drain(
    services, pool: FunctionPool, cloud, queues: list[str] | None = None, limit: int = 10_000
) -> list[str]:
    """Deliver visible messages of ``queues`` (default: all) to their functions until none are left;
    return the ids of messages that failed."""
    from pilothouse.local.worker import deliver

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


@pytest.fixture
def loopback_only(monkeypatch):
    """Any connect to a non-loopback address, or lookup of a name, fails the test (before a packet
    leaves)."""
    real_connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # no name lookups either: they may leave the machine
        try:
            ipaddress.ip_address(str(host).strip("[]"))
        except ValueError:
            if host != "localhost":
                raise AssertionError(f"test tried to look up {host!r}") from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
