"""A real moto server in a subprocess on 127.0.0.1 (a free port), for tests that talk HTTP to "AWS".

    with MotoServer() as moto:
        lam = moto.client("lambda")
        ...

The server is moto's with DynamoDB requests handled one at a time (:mod:`.moto_serial_server`
says why). A subprocess (rather than ``ThreadedMotoServer``) keeps moto's process-wide state (its backends,
``/moto-api/config``) out of the test process, so in-process ``mock_aws`` tests are not affected.
Lambda runs with ``use_docker: false`` (moto's "lambda simple" backend): ``Invoke`` answers without
running code ("Simple Lambda happy path OK", or the queued results of
``/moto-api/static/lambda-simple/response``). Call :meth:`MotoServer.reset` between tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.processes import end_process

REGION = "us-east-1"
#: moto's server, its DynamoDB requests one at a time (moto's DynamoDB backend is not thread-safe)
_SERVER = Path(__file__).with_name("moto_serial_server.py")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __init__(self, *, lambda_docker: bool = False, start_timeout: float = 30.0) -> None:
        self.lambda_docker = lambda_docker
        self.start_timeout = start_timeout
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        last: Exception | None = None
        for _ in range(3):  # the free port may be taken between probing and binding
            self.port = _free_port()
            self._log = tempfile.NamedTemporaryFile(prefix="moto-server-", suffix=".log", delete=False)  # noqa: SIM115
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            self.process = subprocess.Popen(
                [sys.executable, str(_SERVER), "127.0.0.1", str(self.port)],
                stdout=self._log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            try:
                self._wait_ready()
                self.configure({"lambda": {"use_docker": self.lambda_docker}})
                return self
            except Exception as exc:  # noqa: BLE001 - retry on another port, then report
                last = exc
                self.stop()
        raise RuntimeError(f"moto server did not start: {last}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"moto server exited ({self.process.returncode}): {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                _NO_PROXY.open(self.url + "/moto-api/data.json", timeout=2) as r,
            ):
                if r.status == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"moto server not ready after {self.start_timeout}s: {self.log_tail()}")
            time.sleep(0.1)

    def _post(self, path: str, body: dict[str, Any] | None = None) -> bytes:
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(
            self.url + path, data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        with _NO_PROXY.open(req, timeout=10) as r:
            return r.read()

    def configure(self, config: dict[str, Any]) -> None:
        self._post("/moto-api/config", config)

    def reset(self) -> None:
        """Forget every resource (all services)."""
        self._post("/moto-api/reset")

    def client(self, service: str, region: str = REGION) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def log_tail(self, lines: int = 20) -> str:
        if self._log is None:
            return ""
        with contextlib.suppress(OSError):
            return "\n".join(Path(self._log.name).read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        end_process(process)
        if self._log is not None:
            self._log.close()
            with contextlib.suppress(OSError):
                os.unlink(self._log.name)
            self._log = None

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
