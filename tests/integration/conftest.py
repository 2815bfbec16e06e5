"""Fixtures of the integration tests."""

from __future__ import annotations

import pytest

from pilothouse.embedded.dev import DevServer
from tests.support.controlplane import ADMIN_KEY, ROOT


@pytest.fixture
def dev(env, monkeypatch):
    """Start in-process control planes on env's data dir (the admin key seeded); all stopped after."""
    monkeypatch.setenv("PILOTHOUSE_ADMIN_KEY", ADMIN_KEY)
    servers = []

    def start() -> DevServer:
        server = DevServer("127.0.0.1", 0, env / "data", ROOT)
        server.start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        s.stop()
