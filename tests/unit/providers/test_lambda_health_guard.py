"""The Lambda provider's HTTP health check goes through the outbound guard (DESIGN §9).

No AWS call and no traffic off loopback: an autouse fixture fails any connect to another address
(before a packet leaves), and the only server is a tiny one on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from pilothouse.net.outbound import OutboundPolicy
from pilothouse.providers.aws_lambda import LambdaProvider
from pilothouse.providers.base import Placement

pytestmark = pytest.mark.usefixtures("loopback_only")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/iam/")
        else:
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def provider() -> LambdaProvider:
    return LambdaProvider(lambda_client=object(), cloudwatch_client=object(), http_timeout=2.0)


def placement(health_url: str) -> Placement:
    return Placement(
        url=None,
        version="1.0.0",
        replicas=1,
        details={
            "function_name": "f",
            "alias": "live",
            "health_url": health_url,
            "revisions": {"1": {"version": "1.0.0", "weight": 100}},
        },
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/{revision}",
        "http://2852039166/",
        "http://0251.0376.0251.0376/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "file:///etc/passwd",
    ],
)
def test_forbidden_health_urls_are_unhealthy_without_a_connection(provider, url):
    """Given a placement whose health_url names a metadata, link-local or oddly encoded address (one
    recorded before validation existed), when its health is checked, then it is unhealthy with the
    guard's reason and no connection is tried."""
    result = provider.check_health(placement(url), "1")
    assert not result.healthy
    assert "refused" in result.detail


def test_redirects_are_not_followed(provider, server):
    """Given a health URL answering 302 to the metadata address, when checked, then the 302 counts as
    unhealthy and nothing follows it."""
    result = provider.check_health(placement(server + "/redirect/{revision}"), "1")
    assert not result.healthy and "HTTP 302" in result.detail


def test_loopback_health_url_is_healthy_by_default(provider, server):
    """Given a loopback health URL answering 200, when checked with the default policy, then healthy."""
    result = provider.check_health(placement(server + "/rev/{revision}"), "1")
    assert result.healthy, result.detail


def test_private_addresses_can_be_forbidden(provider, server):
    """Given a provider whose outbound policy forbids private and loopback addresses, when a loopback
    health URL is checked, then unhealthy and refused."""
    provider.outbound = OutboundPolicy(allow_private=False)
    result = provider.check_health(placement(server + "/rev/{revision}"), "1")
    assert not result.healthy and "refused" in result.detail


def test_wiring_gives_the_provider_the_settings_policy():
    """Given settings that forbid private addresses, when wiring builds the Lambda provider, then its
    health checks use that policy."""
    from pilothouse.settings import Settings
    from pilothouse.wiring import build_services

    services = build_services(
        Settings(
            store="memory", queue="memory", outbound_allow_private=False, outbound_allow_hosts=("*.on.aws",)
        )
    )
    policy = services.provider("aws-lambda").outbound
    assert policy == OutboundPolicy(allow_private=False, allow_hosts=("*.on.aws",))
