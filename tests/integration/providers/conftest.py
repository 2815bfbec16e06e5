"""Fixtures for provider tests against real servers: a moto server (one per session, reset per test).

The server itself lives in :mod:`tests.support.moto_server` so that other test packages (the provider
contract tests) can start one the same way.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support.moto_server import MotoServer


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """A moto server subprocess on 127.0.0.1 (free port), stopped at the end of the session."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def moto(moto_server: MotoServer) -> Iterator[MotoServer]:
    """The session's moto server, emptied before each test."""
    moto_server.reset()
    yield moto_server
