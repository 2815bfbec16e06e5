"""The built-in secret backend: each value sealed with AES-256-GCM envelope encryption (a fresh
data key per value, wrapped by the master keys: the local 0600 keyring or KMS) and kept in the
store, so the store (its SQLite file, a backup) holds only ciphertext.

==================  ==================  ===============================================
partition (pk)      sort key (sk)       what
==================  ==================  ===============================================
``SECRETVAL#<name>`` ``<version:010>``   ``{"sealed": base64}``: the envelope of one value
==================  ==================  ===============================================

The associated data binds an envelope to its secret and version: a ciphertext copied to another
name or version does not open.
"""

from __future__ import annotations

import base64

from pilothouse.crypto.envelope import EnvelopeError, open_sealed, seal
from pilothouse.domain.records import stored
from pilothouse.ports.keys import KeyWrapper
from pilothouse.ports.secrets import SecretBackendError
from pilothouse.ports.store import Item, Store


def _pk(secret: str) -> str:
    return f"SECRETVAL#{secret}"


def _sk(version: int) -> str:
    return f"{version:010d}"


def _aad(secret: str, version: int) -> bytes:
    return f"pilothouse-secret:{secret}:{version}".encode()


class BuiltinSecrets:
    """Sealed values in the store."""

    name = "builtin"

    def __init__(self, store: Store, keys: KeyWrapper) -> None:
        self.store = store
        self.keys = keys

    def put(self, secret: str, version: int, value: str) -> str:
        sealed = seal(self.keys, value.encode("utf-8"), aad=_aad(secret, version))
        data = stored("SecretValueRecord", {"sealed": base64.b64encode(sealed).decode("ascii")})
        self.store.put(Item(_pk(secret), _sk(version), data), if_absent=True)
        return f"builtin:{secret}:{version}"

    def get(self, secret: str, version: int, ref: str) -> str:
        item = self.store.get(_pk(secret), _sk(version))
        if item is None:
            raise SecretBackendError(f"version {version} of secret {secret!r} is gone")
        try:
            return open_sealed(
                self.keys, base64.b64decode(item.data["sealed"]), aad=_aad(secret, version)
            ).decode()
        except (EnvelopeError, ValueError) as exc:
            raise SecretBackendError(f"version {version} of secret {secret!r} does not open: {exc}") from None

    def forget(self, secret: str, version: int, ref: str) -> None:
        self.store.delete(_pk(secret), _sk(version))

    def delete(self, secret: str) -> None:
        for item in self.store.scan_all(_pk(secret)):
            self.store.delete(item.pk, item.sk)

    def runtime_reference(self, secret: str, version: int, ref: str) -> str | None:
        return None
