"""A webhook receiver for tests, on 127.0.0.1 and a free port: it answers a fixed status, keeps
what it received and checks ``Pilothouse-Signature`` as a receiver would (its own HMAC code, not
Pilothouse's), refusing a bad or stale signature with 401."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.httpservers import ThreadedServer

TOLERANCE = 300


def verify(secret: str, body: bytes, header: str, now: float) -> bool:
    """Stripe-style verification: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">, within 5 minutes."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    if "t" not in fields or "v1" not in fields or abs(now - int(fields["t"])) > TOLERANCE:
        return False
    expected = hmac.new(secret.encode(), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


class Receiver(ThreadedServer):
    """Answers ``status`` to every POST (``secret``: 401 unless the signature verifies)."""

    def __init__(self, status: int = 200, secret: str | None = None, clock: Any = time) -> None:
        self.status = status
        self.secret = secret
        self.clock = clock
        self.received: list[dict[str, Any]] = []
        self.verified: list[bool] = []
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's spelling)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = outer.secret is None or verify(
                    outer.secret, body, self.headers.get("Pilothouse-Signature", ""), outer.clock.time()
                )
                outer.received.append({"headers": dict(self.headers), "body": json.loads(body or b"null")})
                outer.verified.append(ok)
                outer.arrived.set()
                self.send_response(outer.status if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler)
