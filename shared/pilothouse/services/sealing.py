"""Sealing small secrets at rest (a notification channel's URL and signing secret, a webhook
source's secret) with the control plane's envelope encryption: a fresh data key per value under
AES-256-GCM, wrapped by ``ctx.master_keys`` (the local keyring, mode 0600, on the embedded default;
KMS on AWS), so rotating the master key covers these values too and old ones stay readable.

Each sealed value is bound to what it belongs to (the ``context``, e.g. ``channel:<id>:url``): a
sealed value copied onto another record does not open.
"""

from __future__ import annotations

import base64

from pilothouse.crypto.envelope import EnvelopeError, open_sealed
from pilothouse.crypto.envelope import seal as seal_bytes
from pilothouse.errors import ConfigurationError
from pilothouse.services.context import ServiceContext

VERSION = "v2"


def seal(services: ServiceContext, plaintext: str, *, context: str) -> str:
    """``plaintext`` encrypted and authenticated, bound to ``context``: ``v2.<envelope, base64url>``."""
    sealed = seal_bytes(services.master_keys, plaintext.encode(), aad=context.encode())
    return f"{VERSION}.{base64.urlsafe_b64encode(sealed).decode()}"


def unseal(services: ServiceContext, token: str, *, context: str) -> str:
    """The plaintext of :func:`seal`'s ``token`` (ConfigurationError if no master key opens it)."""
    try:
        version, body = token.split(".", 1)
        if version != VERSION:
            raise ValueError(version)
        return open_sealed(
            services.master_keys, base64.urlsafe_b64decode(body), aad=context.encode()
        ).decode()
    except (ValueError, EnvelopeError):
        raise ConfigurationError(
            f"a sealed value of {context.split(':')[0]} does not open with the master keys"
        ) from None
