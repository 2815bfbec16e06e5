"""The outbound guard (DESIGN §9): every spec-named URL is checked before, and connected by, one module.

No test here sends anything off loopback: an autouse fixture fails any socket connect to another
address, and names are resolved by a fake resolver where a test needs a non-literal host.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from pilothouse.net.outbound import OutboundPolicy, OutboundRefused, check_url, request, resolve

pytestmark = pytest.mark.usefixtures("loopback_only")


def fake_resolver(table: dict[str, list[str]], calls: list[str] | None = None):
    """A getaddrinfo stand-in answering from ``table`` (and counting calls per host)."""

    def getaddrinfo(host, port, *args, **kwargs):
        if calls is not None:
            calls.append(host)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown host")
        out = []
        for addr in table[host]:
            family = socket.AF_INET6 if ":" in addr else socket.AF_INET
            sockaddr = (addr, port or 0, 0, 0) if family == socket.AF_INET6 else (addr, port or 0)
            out.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return out

    return getaddrinfo


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the stdlib's name
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"host={self.headers.get('Host')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server() -> Iterator[str]:
    """A tiny HTTP server on 127.0.0.1 (free port): echoes the Host header; /redirect → metadata."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


REFUSED_STATICALLY = [
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:70/",
    "http://user:pass@example.com/",
    "http://user@example.com/",
    "http://example.com/a\r\nX-Injected: 1",
    "http://example.com/\x00",
    "http://exa mple.com/",
    "http://example.com\\@127.0.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://[fe80::1]/",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata.google.internal./",
    "http://METADATA.GOOGLE.INTERNAL/",
    "http://100.100.100.200/latest/meta-data/",
    "http://192.0.0.192/latest/",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://0xA9FEA9FE/",
    "http://169.254.43518/",
    "http://0/",
    "http://0.0.0.0:8080/",
    "http://[::]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://255.255.255.255/",
    "http://127.1/",
    "http://%31%36%39.254.169.254/",
    "http://169\u3002254\u3002169\u3002254/",  # ideographic full stops
    "http://\uff11\uff16\uff19.254.169.254/",  # full-width digits
    "http:///nohost",
    "http://example.com:99999/",
    "http://example.com:0/",
]


@pytest.mark.parametrize("url", REFUSED_STATICALLY)
def test_bad_urls_are_refused_without_resolving(url):
    """Given a URL with a bad scheme, userinfo, control characters, a forbidden or oddly encoded
    address, when checked, then it is refused before any name lookup."""
    calls: list[str] = []
    with pytest.raises(OutboundRefused):
        resolve(url, OutboundPolicy(), resolver=fake_resolver({}, calls))
    assert calls == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/health",
        "https://example.com/health?x=1",
        "http://[::1]:9000/",
        "http://10.0.0.5/",
        "https://fn.lambda-url.us-east-1.on.aws/health",
    ],
)
def test_ordinary_urls_pass_the_static_check(url):
    """Given ordinary http(s) URLs (loopback and private allowed by default), when checked, then accepted."""
    check_url(url, OutboundPolicy())


def test_names_resolving_to_forbidden_addresses_are_refused():
    """Given names that resolve to metadata, link-local or mapped forms of them (one bad address is
    enough), when resolved, then refused."""
    table = {
        "meta.example": ["169.254.169.254"],
        "mixed.example": ["127.0.0.1", "169.254.1.1"],
        "mapped.example": ["::ffff:169.254.169.254"],
        "v6meta.example": ["fd00:ec2::254"],
        "zero.example": ["0.0.0.0"],
    }
    for host in table:
        with pytest.raises(OutboundRefused):
            resolve(f"http://{host}/", OutboundPolicy(), resolver=fake_resolver(table))


def test_private_and_loopback_can_be_forbidden():
    """Given a policy for cloud deployments, when a URL names loopback or a private range, then refused;
    public addresses still pass."""
    policy = OutboundPolicy(allow_private=False)
    table = {"internal.example": ["10.1.2.3"], "public.example": ["93.184.215.14"]}
    for url in (
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://192.168.1.1/",
        "http://internal.example/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "http://[fc00::1]/",
    ):
        with pytest.raises(OutboundRefused):
            resolve(url, policy, resolver=fake_resolver(table))
    target = resolve("http://public.example/x", policy, resolver=fake_resolver(table))
    assert target.address == "93.184.215.14"


def test_allow_list_of_hosts():
    """Given an allow-list, when a host is not on it (nor under a listed *.suffix), then refused."""
    policy = OutboundPolicy(allow_hosts=("api.example.com", "*.on.aws"))
    table = {
        "api.example.com": ["10.0.0.1"],
        "x.lambda-url.us-east-1.on.aws": ["10.0.0.2"],
        "other.example.com": ["10.0.0.3"],
    }
    resolve("https://api.example.com/", policy, resolver=fake_resolver(table))
    resolve("https://x.lambda-url.us-east-1.on.aws/", policy, resolver=fake_resolver(table))
    with pytest.raises(OutboundRefused, match="allow"):
        resolve("https://other.example.com/", policy, resolver=fake_resolver(table))


def test_request_connects_to_the_checked_address(server):
    """Given a name that resolves to loopback once and to the metadata address afterwards (DNS
    rebinding), when requested, then it is resolved once and the request goes to the checked address
    with the original Host header."""
    calls: list[str] = []
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])

    def rebinding(host, port, *args, **kwargs):
        calls.append(host)
        return fake_resolver({host: next(answers)})(host, port)

    port = server.split(":")[1]
    response = request(
        "GET", f"http://rebind.example:{port}/", policy=OutboundPolicy(), timeout=5, resolver=rebinding
    )
    assert response.status_code == 200
    assert response.text == f"host=rebind.example:{port}"
    assert calls == ["rebind.example"]


def test_redirects_are_not_followed(server):
    """Given a server answering 302 to the metadata address, when requested, then the 302 comes back
    as is (nothing follows it)."""
    response = request("GET", f"http://{server}/redirect", policy=OutboundPolicy(), timeout=5)
    assert response.status_code == 302


def test_request_refuses_before_connecting():
    """Given the metadata URL, when requested, then OutboundRefused and no connection is tried."""
    with pytest.raises(OutboundRefused):
        request("GET", "http://169.254.169.254/latest/meta-data/", policy=OutboundPolicy(), timeout=1)


def test_international_names_are_sent_in_their_ascii_form(server):
    """Given a host name with non-ASCII letters, when requested, then it is looked up and sent in the
    Host header in its IDNA form (what resolvers, virtual hosts and certificates use)."""
    port = server.split(":")[1]
    calls: list[str] = []
    response = request(
        "GET",
        f"http://b\u00fccher.example:{port}/",
        policy=OutboundPolicy(),
        timeout=5,
        resolver=fake_resolver({"xn--bcher-kva.example": ["127.0.0.1"]}, calls),
    )
    assert response.text == f"host=xn--bcher-kva.example:{port}"
    assert calls == ["xn--bcher-kva.example"]
