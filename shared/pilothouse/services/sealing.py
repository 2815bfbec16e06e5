"""Sealing small secrets at rest (a channel's URL and signing secret): AES-GCM under one key.

The key is ``settings.sealing_key`` (32 bytes, base64). On the embedded default (SQLite or memory
store) without one, a key file ``<data_dir>/sealing.key`` is made on first use (mode 0600, created
exclusively so two processes agree on it). Each sealed value is bound to what it belongs to (the
``context``, e.g. ``channel:<id>:url``): a sealed value copied onto another record does not open.
"""

from __future__ import annotations

import base64
import os
import secrets
from functools import lru_cache
from pathlib import Path

from pilothouse.errors import ConfigurationError
from pilothouse.services.context import ServiceContext

VERSION = "v1"
KEY_FILE = "sealing.key"


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigurationError(f"{where} must be 32 bytes, base64-encoded")
    return key


@lru_cache(maxsize=8)
def _key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _decode_key(path.read_text(), str(path))
    with os.fdopen(fd, "w") as f:
        f.write(base64.b64encode(secrets.token_bytes(32)).decode())
    return _decode_key(path.read_text(), str(path))


def _key(services: ServiceContext) -> bytes:
    s = services.settings
    if s.sealing_key:
        return _decode_key(s.sealing_key, "PILOTHOUSE_SEALING_KEY")
    if s.store in ("sqlite", "memory"):
        return _key_file(Path(s.data_dir).resolve() / KEY_FILE)
    raise ConfigurationError("PILOTHOUSE_SEALING_KEY is not set: notification channels cannot be sealed")


def seal(services: ServiceContext, plaintext: str, *, context: str) -> str:
    """``plaintext`` encrypted and authenticated, bound to ``context``: ``v1.<nonce>.<ciphertext>``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key(services)).encrypt(nonce, plaintext.encode(), context.encode())
    return ".".join(
        (VERSION, base64.urlsafe_b64encode(nonce).decode(), base64.urlsafe_b64encode(sealed).decode())
    )


def unseal(services: ServiceContext, token: str, *, context: str) -> str:
    """The plaintext of :func:`seal`'s ``token`` (ConfigurationError if the key does not open it)."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        version, nonce, sealed = token.split(".")
        if version != VERSION:
            raise ValueError(version)
        return (
            AESGCM(_key(services))
            .decrypt(base64.urlsafe_b64decode(nonce), base64.urlsafe_b64decode(sealed), context.encode())
            .decode()
        )
    except (ValueError, InvalidTag):
        raise ConfigurationError(
            f"a sealed value of {context.split(':')[0]} does not open with this key"
        ) from None
