"""The CLI's HTTP client on its real path (urllib, no test transport) against a loopback server."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pilothouse.cli import client as client_module
from pilothouse.cli.client import ApiError, Client, ConnectionFailed


class _Api(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/v1/echo"):
            seen = {"path": self.path, "auth": self.headers.get("Authorization")}
            self._answer(200, json.dumps(seen).encode())
        elif self.path == "/v1/missing":
            problem = {"title": "Not found", "status": 404, "detail": "no component named 'x'"}
            self._answer(404, json.dumps(problem).encode(), "application/problem+json")
        elif self.path == "/v1/broken":
            self._answer(502, b"upstream fell over", "text/plain")
        else:
            self._answer(204, b"")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        seen = {
            "body": json.loads(self.rfile.read(length)),
            "key": self.headers.get("Idempotency-Key"),
            "type": self.headers.get("Content-Type"),
        }
        self._answer(202, json.dumps(seen).encode())

    def do_DELETE(self) -> None:  # noqa: N802
        self._answer(204, b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url(monkeypatch):
    monkeypatch.setattr(client_module, "TRANSPORT", None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_get_post_errors_and_no_content(url):
    with Client(url, "ph_1_secret") as client:
        assert client._http is None  # the urllib path
        echoed = client.get("/v1/echo", limit=5, cursor=None, all=True)
        assert echoed == {"path": "/v1/echo?limit=5&all=true", "auth": "Bearer ph_1_secret"}
        posted = client.post("/v1/things", {"n": 1}, idempotency_key="k-1")
        assert posted == {"body": {"n": 1}, "key": "k-1", "type": "application/json"}
        assert client.post("/v1/things")["body"] == {}
        with pytest.raises(ApiError) as missing:
            client.get("/v1/missing")
        assert missing.value.status == 404 and missing.value.problem["detail"] == "no component named 'x'"
        with pytest.raises(ApiError) as broken:
            client.get("/v1/broken")
        assert broken.value.status == 502 and broken.value.problem["detail"] == "upstream fell over"
        assert client.delete("/v1/anything") is None


def test_nothing_listening_is_a_connection_failure(monkeypatch):
    monkeypatch.setattr(client_module, "TRANSPORT", None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        with (
            Client(f"http://127.0.0.1:{port}", None, timeout=2) as client,
            pytest.raises(ConnectionFailed) as exc,
        ):
            client.get("/v1/components")
    assert exc.value.status == 0 and f"127.0.0.1:{port}" in exc.value.problem["detail"]
