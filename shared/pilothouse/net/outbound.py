"""The outbound guard (DESIGN §9): every request to a URL a spec (or a user) names goes through here.

    >>> check_url("http://127.0.0.1:8080/health", OutboundPolicy()).port
    8080
    >>> check_url("http://169.254.169.254/latest/meta-data/", OutboundPolicy())
    Traceback (most recent call last):
    ...
    pilothouse.net.outbound.OutboundRefused: 169.254.169.254 is a cloud metadata address

Three steps, each usable alone:

* :func:`check_url` — no I/O: http/https only, no userinfo, no control characters, whitespace or
  backslashes anywhere, a host that is a name or a canonical IP literal (``2852039166``,
  ``0251.0376.0251.0376``, ``0xA9FEA9FE``, ``127.1`` are refused), metadata names and literal
  addresses checked against the policy, the allow-list of hosts if there is one.
* :func:`resolve` — the check, then one name lookup; every address the name resolves to must pass
  (link-local, metadata, multicast, unspecified, reserved and broadcast never do, nor IPv4-mapped,
  -compatible, NAT64 or 6to4 forms of them; loopback and private ranges only if the policy allows).
* :func:`request` — resolve once, then connect to the checked address (the URL's host moved to the
  Host header and to TLS's SNI and certificate check), so a DNS answer that changes between check
  and connect (rebinding) cannot redirect it; no proxies from the environment, no redirects
  followed, the body read up to a limit.

Imports nothing of Pilothouse; httpx is imported by :func:`request` only.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "OutboundPolicy",
    "OutboundRefused",
    "OutboundResponse",
    "Destination",
    "check_address",
    "check_url",
    "request",
    "resolve",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048
#: names of instance-metadata services (a trailing dot and case do not matter)
METADATA_HOSTS = frozenset(
    {
        "metadata.google.internal",
        "metadata.goog",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
        "metadata.platformequinix.com",
    }
)
#: addresses of instance-metadata and similar host services, outside link-local too
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, Oracle, DigitalOcean...
        "169.254.170.2",  # ECS task credentials
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd00:ec2::23",  # AWS Time Sync / DNS on Nitro
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer
        "192.0.0.192",  # Oracle Cloud Infrastructure Classic
    )
)
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: private for our purposes
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class OutboundRefused(ValueError):
    """The URL, or an address it leads to, may not be requested; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OutboundPolicy:
    """What outbound requests may reach besides the public internet."""

    #: loopback and private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, ::1...)
    allow_private: bool = True
    #: when not empty, only these hosts: exact names or literals, or ``*.example.com`` for subdomains
    allow_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (``address``) and what to tell the server (``host_header``)."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str
    literal: bool
    addresses: tuple[str, ...] = ()

    @property
    def address(self) -> str:
        return self.addresses[0]


@dataclass(frozen=True)
class OutboundResponse:
    """What came back: status, headers and the body up to the limit asked for."""

    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def _host_allowed(host: str, allow_hosts: tuple[str, ...]) -> bool:
    for pattern in allow_hosts:
        pattern = pattern.lower().rstrip(".")
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
        if host == pattern:
            return True
    return False


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if 1 < int(ip) < 2**32:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def check_address(ip: IPAddress, policy: OutboundPolicy) -> None:
    """Refuse an address the policy does not let outbound requests reach (OutboundRefused)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            raise OutboundRefused(f"{ip} carries a zone id")
        inner = _embedded_ipv4(ip)
        if inner is not None:
            try:
                check_address(inner, policy)
            except OutboundRefused as exc:
                raise OutboundRefused(f"{ip} embeds {inner}: {exc.reason}") from None
    if ip in METADATA_ADDRESSES:
        raise OutboundRefused(f"{ip} is a cloud metadata address")
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        raise OutboundRefused(f"{ip} is an unspecified address")
    if ip.is_link_local:
        raise OutboundRefused(f"{ip} is a link-local address")
    if ip.is_multicast:
        raise OutboundRefused(f"{ip} is a multicast address")
    if isinstance(ip, ipaddress.IPv4Address) and (ip.is_reserved or int(ip) == 0xFFFFFFFF):
        raise OutboundRefused(f"{ip} is a reserved address")
    if not policy.allow_private and (
        ip.is_loopback
        or ip.is_private
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    ):
        raise OutboundRefused(f"{ip} is a loopback or private address, which this deployment does not allow")


def check_url(url: str, policy: OutboundPolicy) -> Destination:
    """Check ``url`` without any I/O; the :class:`Destination` it names (no addresses yet for a name)."""
    if not isinstance(url, str) or not url:
        raise OutboundRefused("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise OutboundRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    bad = _BAD_CHARS.search(url)
    if bad:
        raise OutboundRefused(
            f"the URL contains {bad.group()!r} (control characters, whitespace and "
            "backslashes are not allowed)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"the URL does not parse: {exc}") from None
    if port == 0:
        raise OutboundRefused("port 0 cannot be connected to")
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise OutboundRefused(f"scheme {parts.scheme or '(none)'!r} is not allowed; use http or https")
    if "@" in parts.netloc:
        raise OutboundRefused("credentials in the URL (user@host) are not allowed")
    host = (parts.hostname or "").lower()
    if not host:
        raise OutboundRefused("the URL names no host")
    if "%" in host:
        raise OutboundRefused("percent-encoded characters or zone ids in the host are not allowed")
    bracketed = parts.netloc.startswith("[")
    if not bracketed:
        try:  # what the resolver will see: IDNA maps full-width digits and ideographic dots to ASCII
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise OutboundRefused(f"{host!r} is not a valid host name") from None
    name = host.rstrip(".") if not bracketed else host
    if not name:
        raise OutboundRefused("the URL names no host")
    literal: IPAddress | None = None
    if bracketed:
        try:
            literal = ipaddress.IPv6Address(name)
        except ValueError:
            raise OutboundRefused(f"{name!r} is not an IPv6 address") from None
    else:
        try:
            literal = ipaddress.IPv4Address(name)
        except ValueError:
            if _NUMERIC_LABEL.match(name.rsplit(".", 1)[-1]):
                raise OutboundRefused(
                    f"{name!r} is a number-like host: write IPv4 addresses as four decimal parts"
                ) from None
    if literal is not None:
        check_address(literal, policy)
    elif name in METADATA_HOSTS:
        raise OutboundRefused(f"{name} is a cloud metadata service")
    shown = f"[{literal}]" if bracketed else name
    if policy.allow_hosts and not _host_allowed(str(literal) if literal else name, policy.allow_hosts):
        raise OutboundRefused(f"{shown} is not on the allow-list of outbound hosts")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    # a name goes out in its ASCII (IDNA) form: what virtual hosts and certificates name
    host_header = parts.netloc if bracketed else host + (f":{port}" if port is not None else "")
    return Destination(
        scheme=scheme,
        host=str(literal) if literal is not None else name,
        port=port or DEFAULT_PORTS[scheme],
        path=path,
        host_header=host_header,
        literal=literal is not None,
        addresses=(str(literal),) if literal is not None else (),
    )


def resolve(url: str, policy: OutboundPolicy, *, resolver: Resolver | None = None) -> Destination:
    """:func:`check_url`, then one name lookup whose every answer must pass :func:`check_address`.

    OutboundRefused when refused; OSError (socket.gaierror) when the name does not resolve.
    """
    dest = check_url(url, policy)
    if dest.literal:
        return dest
    infos = (resolver or socket.getaddrinfo)(dest.host, dest.port, 0, socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        check_address(ip, policy)
        if str(ip) not in addresses:
            addresses.append(str(ip))
    if not addresses:
        raise OSError(f"{dest.host} resolves to no address")
    return Destination(**{**dest.__dict__, "addresses": tuple(addresses)})


def request(
    method: str,
    url: str,
    *,
    policy: OutboundPolicy,
    timeout: float,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    max_body_bytes: int = 65_536,
    resolver: Resolver | None = None,
    transport: Any = None,
) -> OutboundResponse:
    """Send one request to ``url`` through the guard (see the module docstring); redirects come back
    as they are. OutboundRefused before any connection when refused; httpx errors for I/O failures."""
    import httpx  # only callers that send requests pay for it

    dest = resolve(url, policy, resolver=resolver)
    address = dest.address
    netloc = f"[{address}]" if ":" in address else address
    extensions: dict[str, Any] = {}
    if dest.scheme == "https" and not dest.literal:
        extensions["sni_hostname"] = dest.host  # TLS checks the certificate against the name
    sent_headers = {**(headers or {}), "Host": dest.host_header}
    client = httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout, transport=transport)
    with client:
        outgoing = client.build_request(
            method,
            f"{dest.scheme}://{netloc}:{dest.port}{dest.path}",
            headers=sent_headers,
            content=content,
            extensions=extensions,
        )
        response = client.send(outgoing, stream=True)
        body = bytearray()
        try:
            for chunk in response.iter_bytes() if max_body_bytes > 0 else ():
                body += chunk
                if len(body) >= max_body_bytes:
                    del body[max_body_bytes:]
                    break
        finally:
            response.close()
    return OutboundResponse(response.status_code, dict(response.headers), bytes(body))
