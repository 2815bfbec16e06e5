"""The npm ``@firestore-emulator/server`` in a node subprocess on 127.0.0.1 (a free port).

    with FirestoreEmulator() as emulator:     # sets FIRESTORE_EMULATOR_HOST while it runs
        store = FirestoreStore(f"t-{uuid4().hex}", project=emulator.project)

The emulator keeps everything in memory; tests isolate themselves with a collection of their own.
What it lacks (real transactions, update_time preconditions) is listed in
:mod:`pilothouse.store.firestore`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

from tests.support.processes import end_process

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_suffix(".js")
PROJECT = "pilothouse-test"


class FirestoreEmulator:
    def __init__(self, *, start_timeout: float = 30.0, set_environ: bool = True) -> None:
        self.start_timeout = start_timeout
        self.set_environ = set_environ
        self.port = 0
        self.project = PROJECT
        self.process: subprocess.Popen[str] | None = None
        self._previous: str | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> FirestoreEmulator:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed (make node_modules)")
        if not (ROOT / "node_modules" / "@firestore-emulator" / "server").is_dir():
            raise RuntimeError("@firestore-emulator/server is not installed (make node_modules)")
        self.process = subprocess.Popen(
            [node, str(SCRIPT), "0"],
            cwd=ROOT,
            env={**os.environ, "NODE_PATH": str(ROOT / "node_modules")},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(self.start_timeout)
        if not line or not line[0].startswith("listening "):
            self.stop()
            raise RuntimeError(f"the Firestore emulator did not start: {line[0] if line else 'timeout'}")
        self.port = int(line[0].split()[1])
        # keep draining its output so a chatty emulator never blocks on a full pipe
        threading.Thread(target=self._drain, daemon=True).start()
        if self.set_environ:
            self._previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
            os.environ["FIRESTORE_EMULATOR_HOST"] = self.host
        return self

    def _drain(self) -> None:
        process = self.process
        if process is not None and process.stdout is not None:
            for _ in process.stdout:
                pass

    def client(self):
        """A Firestore client on the emulator (anonymous credentials, this project)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore

        os.environ["FIRESTORE_EMULATOR_HOST"] = self.host
        return firestore.Client(project=self.project, credentials=AnonymousCredentials())

    def stop(self) -> None:
        process, self.process = self.process, None
        end_process(process)
        if process is not None and process.stdin is not None:
            process.stdin.close()
        if self.set_environ and self.port:
            if self._previous is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = self._previous

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
