from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pilothouse.cli import client as client_module
from pilothouse.cli import wait as wait_module
from pilothouse.cli.main import app
from tests.support.fakeapi import FakeApi


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(client_module, "TRANSPORT", fake.transport())
    monkeypatch.setattr(wait_module, "POLL_SECONDS", 0)
    monkeypatch.setenv("PILOTHOUSE_URL", "http://pilothouse.test")
    monkeypatch.setenv("PILOTHOUSE_API_KEY", fake.key)
    monkeypatch.setenv("COLUMNS", "200")
    return fake


@pytest.fixture
def cli():
    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return run
