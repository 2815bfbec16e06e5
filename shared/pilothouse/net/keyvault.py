"""The one check of an Azure Key Vault URL (settings, the key and secret adapters, wrapped keys).

    >>> vault_origin("https://ph-prod.vault.azure.net/")
    ('https://ph-prod.vault.azure.net', False)
    >>> vault_origin("https://127.0.0.1:8443")
    ('https://127.0.0.1:8443', True)
    >>> vault_origin("https://169.254.169.254/")
    Traceback (most recent call last):
    ...
    ValueError: a Key Vault URL names its vault by host name (or 127.0.0.1 in tests)

A vault is ``https://<host>[:port]`` with no user, path, query or fragment. Its host is a DNS name
(``<vault>.vault.azure.net``, a sovereign cloud's, a Managed HSM's ``<hsm>.managedhsm.azure.net``)
or, for tests only, the loopback literal: any other IP literal (metadata, private addresses) is
refused, since the SDK sends the vault a bearer token. ``loopback`` tells the adapters to turn off
the SDK's challenge-resource check, which cannot hold for a vault on 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$"
)


def vault_origin(url: str) -> tuple[str, bool]:
    """``(origin, loopback)`` of a Key Vault URL; ValueError naming what is wrong."""
    if (
        not isinstance(url, str)
        or len(url) > 300
        or any(c.isspace() or ord(c) < 32 or c == "\\" for c in url)
    ):
        raise ValueError("a Key Vault URL is a short https URL without spaces or backslashes")
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise ValueError("a Key Vault URL is https")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError("a Key Vault URL has no user, path, query or fragment")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        raise ValueError("a Key Vault URL's port is a number") from None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and ip != ipaddress.ip_address("127.0.0.1"):
        raise ValueError("a Key Vault URL names its vault by host name (or 127.0.0.1 in tests)")
    if ip is None and not _HOST.match(host):
        raise ValueError("a Key Vault URL's host is not a DNS name")
    origin = f"https://{host}" + (f":{port}" if port is not None and port != 443 else "")
    return origin, ip is not None
