"""gcp-storage-emulator (PyPI) on 127.0.0.1, a free port, in memory, in a thread of this process.

    with GcsEmulator() as gcs:                 # sets STORAGE_EMULATOR_HOST while it runs
        blobs = GcsBlobs("bucket", client=gcs.client(), create_bucket=True)

Its HTTP server handles one request at a time. What it does not model (CMEK: it accepts and
ignores ``kmsKeyName``) is said where the tests rely on it.
"""

from __future__ import annotations

import os
from typing import Any

PROJECT = "pilothouse-test"


class GcsEmulator:
    def __init__(self, *, set_environ: bool = True) -> None:
        self.set_environ = set_environ
        self.port = 0
        self.project = PROJECT
        self._server: Any = None
        self._previous: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GcsEmulator:
        from gcp_storage_emulator.server import create_server

        # port 0: the operating system picks a free port when the server binds (no race)
        self._server = create_server("127.0.0.1", 0, in_memory=True)
        self._server.start()
        self.port = self._server._api._httpd.server_address[1]
        if self.set_environ:
            self._previous = os.environ.get("STORAGE_EMULATOR_HOST")
            os.environ["STORAGE_EMULATOR_HOST"] = self.url
        return self

    def client(self) -> Any:
        """A storage client on the emulator (anonymous credentials, this project)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project=self.project,
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.url},
        )

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        if self.set_environ and self.port:
            if self._previous is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = self._previous

    def __enter__(self) -> GcsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
