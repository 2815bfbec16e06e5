"""Fixtures of the CLI tests: the CLI runs in process against the real API (``api``), served by
:class:`tests.support.inprocess.InProcessApi` on the memory store and queue and a fake provider."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from pilothouse.cli import client as client_module
from pilothouse.cli import wait as wait_module
from pilothouse.cli.main import app
from pilothouse.clock import ManualClock
from pilothouse.settings import get_settings
from pilothouse.wiring import Services, register_services, reset_services
from tests.support.controlplane import ADMIN_KEY
from tests.support.fakes import RevisionFake
from tests.support.inprocess import InProcessApi


def _point_the_cli_at(monkeypatch: pytest.MonkeyPatch, transport, key: str) -> None:
    monkeypatch.setattr(client_module, "TRANSPORT", transport)
    monkeypatch.setattr(wait_module, "POLL_SECONDS", 0)
    monkeypatch.setenv("PILOTHOUSE_URL", "http://pilothouse.test")
    monkeypatch.setenv("PILOTHOUSE_API_KEY", key)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch, tmp_path, cloud, pool):
    """The real API in process (memory store and queue, a RevisionFake as the local provider), on a
    manual clock that jumps over pauses and retry intervals when nothing else is left to do."""
    from pilothouse.services.keys import ensure_key

    monkeypatch.setenv("PILOTHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PILOTHOUSE_STORE", "memory")
    monkeypatch.setenv("PILOTHOUSE_QUEUE", "memory")
    monkeypatch.setenv("PILOTHOUSE_BLOBS", "memory")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("PILOTHOUSE_ADMIN_KEY", raising=False)
    reset_services()
    clock = ManualClock(time.time())
    provider = RevisionFake()
    services = Services(get_settings(), clock, providers={"local": provider})
    register_services(services)
    ensure_key(services, ADMIN_KEY, name="test admin")
    served = InProcessApi(services, pool, cloud, ADMIN_KEY, clock)
    served.provider = provider
    _point_the_cli_at(monkeypatch, served, ADMIN_KEY)
    yield served
    reset_services()


@pytest.fixture
def cli():
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return run
