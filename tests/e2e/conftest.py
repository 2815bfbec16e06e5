"""End-to-end fixtures: the real ``pilothouse dev`` and the real ``pilothouse`` CLI as subprocesses
(the helpers live in tests/support/e2e.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support import processes
from tests.support.e2e import Cli, DevProcess, kill_marked, make_admin_key


@pytest.fixture
def dev(tmp_path) -> Iterator[DevProcess]:
    """A control plane not yet started (``dev.start()``), killed with all it left behind at the end."""
    marker = uuid.uuid4().hex
    server = DevProcess(tmp_path / "data", tmp_path, make_admin_key(), marker)
    try:
        yield server
    finally:
        for client in server.clients:
            client.close()
        server.kill()
        kill_marked(marker)
        processes.kill_replicas(server.data_dir / "processes")  # replicas keep no marker of ours


@pytest.fixture
def running_dev(dev: DevProcess) -> DevProcess:
    return dev.start()


@pytest.fixture
def cli(dev: DevProcess) -> Cli:
    return Cli(dev.url, dev.admin_key)
