"""moto's server with its DynamoDB requests handled one at a time (run as a script by
:class:`tests.support.moto_server.MotoServer`: ``python moto_serial_server.py HOST PORT``).

moto's DynamoDB backend is not thread-safe, and its server answers each request on a thread of its
own: a TransactWriteItems deep-copies the whole table (to roll back on a failed condition) while
another request's thread writes to it, and the copy fails with "dictionary changed size during
iteration", an HTTP 500 that real DynamoDB never gives for that reason (it applies each request
atomically). Under load, a control plane writing metrics and sweeps beside a restore's
transactions met it every few runs. Holding one lock around DynamoDB requests gives moto the
per-request atomicity DynamoDB has; every other service (SQS long polls, S3) stays concurrent.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class DynamoDbOneAtATime:
    """WSGI middleware: a request whose ``X-Amz-Target`` is DynamoDB's runs (and its answer is read)
    under one lock."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            return self.app(environ, start_response)
        with self.lock:
            return list(self.app(environ, start_response))


def main(host: str, port: int) -> None:
    os.environ.setdefault("MOTO_PORT", str(port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]
    run_simple(host, port, DynamoDbOneAtATime(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
