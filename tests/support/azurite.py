"""Azurite (Azure Storage's emulator: blobs, queues, tables) in a subprocess on 127.0.0.1, for the
Azure adapters' tests.

    with Azurite() as azurite:
        store = AzureTableStore("t1", connection_string=azurite.connection_string, create_table=True)

It runs ``node_modules/.bin/azurite`` (installed by ``make`` from package.json) with
``--skipApiVersionCheck --disableTelemetry --inMemoryPersistence`` on three free ports, waits until
each service answers, and stops it (and its data) on :meth:`Azurite.stop`. The account is Azurite's
well-known development account (``devstoreaccount1``): its key is public, documented by Microsoft,
and good for nothing but the emulator.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.processes import end_process, stop_at_session_end

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "devstoreaccount1"
#: the development account's key, published in Azurite's and Azure's documentation (not a secret)
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SERVICES = ("blob", "queue", "table")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Linux: Azurite gets SIGTERM when the test process ends, even when no atexit runs (an xdist
    worker's exit); elsewhere a no-op."""
    import ctypes
    import signal
    import sys

    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def azurite_binary() -> Path | None:
    """The project's Azurite, or None when ``node_modules`` was not installed."""
    path = ROOT / "node_modules" / ".bin" / "azurite"
    return path if path.exists() and shutil.which("node") else None


class Azurite:
    """One Azurite process serving blob, queue and table endpoints on free loopback ports."""

    def __init__(self, *, start_timeout: float = 60.0) -> None:
        self.start_timeout = start_timeout
        self.ports: dict[str, int] = {}
        self.process: subprocess.Popen[bytes] | None = None
        self._workdir: str | None = None
        self._log: Any = None

    def endpoint(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        """The connection string every Azure Storage SDK takes (``AZURE_STORAGE_CONNECTION_STRING``)."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.endpoint('blob')};QueueEndpoint={self.endpoint('queue')};"
            f"TableEndpoint={self.endpoint('table')};"
        )

    def start(self) -> Azurite:
        binary = azurite_binary()
        if binary is None:
            raise RuntimeError("Azurite is not installed: run `make node_modules/.installed` (npm ci)")
        last: Exception | None = None
        for _ in range(3):  # a free port may be taken between probing and binding
            self.ports = {service: _free_port() for service in SERVICES}
            self._workdir = tempfile.mkdtemp(prefix="azurite-")
            self._log = open(Path(self._workdir) / "azurite.log", "wb")  # noqa: SIM115 - closed in stop()
            command = [str(binary), "--skipApiVersionCheck", "--disableTelemetry", "--inMemoryPersistence"]
            for service in SERVICES:
                command += [f"--{service}Host", "127.0.0.1", f"--{service}Port", str(self.ports[service])]
            env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
            self.process = subprocess.Popen(
                command,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self._workdir,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
            )
            try:
                self._wait_ready()
                return self
            except Exception as exc:  # noqa: BLE001 - retry on other ports, then report
                last = exc
                self.stop()
        raise RuntimeError(f"Azurite did not start: {last}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        waiting = set(SERVICES)
        while waiting:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"Azurite exited ({self.process.returncode}): {self.log_tail()}")
            for service in sorted(waiting):
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", self.ports[service]), timeout=1),
                ):
                    waiting.discard(service)
            if waiting and time.monotonic() > deadline:
                raise RuntimeError(f"Azurite not ready after {self.start_timeout}s: {self.log_tail()}")
            if waiting:
                time.sleep(0.1)

    def log_tail(self, lines: int = 20) -> str:
        if self._workdir is None:
            return ""
        with contextlib.suppress(OSError):
            text = (Path(self._workdir) / "azurite.log").read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        end_process(process)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_session: list[Azurite] = []


def session_azurite() -> Azurite:
    """One Azurite for the test session (started by the first test that asks, stopped when the
    session ends)."""
    if not _session:
        server = Azurite().start()
        stop_at_session_end(server.stop)
        _session.append(server)
    return _session[0]


def new_table_store(clock: Any = None) -> Any:
    """An Azure table store on a fresh table of the session's Azurite."""
    import uuid

    from pilothouse.store.azure_tables import AzureTableStore

    table = f"contract{uuid.uuid4().hex[:16]}"
    return AzureTableStore(
        table, connection_string=session_azurite().connection_string, clock=clock, create_table=True
    )
