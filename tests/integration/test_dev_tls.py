"""``pilothouse dev`` over HTTPS: TLS 1.3 as the minimum, a self-signed certificate for
development, and a CLI that verifies certificates and takes ``--ca-file`` (issue 18 §5)."""

from __future__ import annotations

import ssl
import stat
import urllib.request

import pytest

from pilothouse.cli import client as client_module
from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from pilothouse.embedded.tls import TlsFiles, self_signed


@pytest.fixture
def https(env, cloud, pool, loopback_only):
    files = self_signed(env / "tls", "127.0.0.1")
    server = GatewayServer(LocalGateway(cloud.routes, pool), "127.0.0.1", 0, tls=files)
    server.start()
    yield server, files
    server.stop()


def test_the_cli_verifies_the_certificate_and_takes_a_ca_file(https, monkeypatch):
    """Given HTTPS with a self-signed certificate, Then the CLI's client refuses it by default and
    talks to it with --ca-file."""
    server, files = https
    assert server.url.startswith("https://127.0.0.1:")
    with pytest.raises(client_module.ConnectionFailed, match="CERTIFICATE_VERIFY_FAILED"):
        client_module.Client(server.url).get("/v1/health")
    monkeypatch.setattr(client_module, "CA_FILE", str(files.cert))
    assert client_module.Client(server.url).get("/v1/health")["status"]


def test_tls_1_2_is_refused_and_1_3_is_spoken(https):
    server, files = https
    old = ssl.create_default_context(cafile=str(files.cert))
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, OSError)):
        urllib.request.urlopen(server.url + "/v1/health", context=old, timeout=5)  # noqa: S310
    good = ssl.create_default_context(cafile=str(files.cert))
    import http.client

    host, port = server.url.removeprefix("https://").split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=good, timeout=5)
    conn.request("GET", "/v1/health")
    assert conn.getresponse().status == 200
    assert conn.sock.version() == "TLSv1.3"
    conn.close()


def test_plain_http_gets_no_answer_from_the_https_port(https):
    server, _ = https
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url.replace("https:", "http:") + "/v1/health", timeout=5)  # noqa: S310


def test_the_self_signed_key_is_private_and_reused(env):
    first = self_signed(env / "tls", "127.0.0.1")
    again = self_signed(env / "tls", "127.0.0.1")
    assert first == again and stat.S_IMODE(first.key.stat().st_mode) == 0o600
    first.check()


def test_a_certificate_and_a_key_that_do_not_match_are_refused(env):
    a = self_signed(env / "a", "127.0.0.1")
    b = self_signed(env / "b", "127.0.0.1")
    with pytest.raises(ValueError, match="do not load as a pair"):
        TlsFiles(a.cert, b.key).check()
    with pytest.raises(ValueError, match="no such file"):
        TlsFiles(env / "nope.pem", a.key).check()
