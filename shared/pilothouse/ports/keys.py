"""The key-wrapping port (see :mod:`pilothouse.ports`): master keys that wrap data keys.

Envelope encryption (:mod:`pilothouse.crypto.envelope`) encrypts each object with a fresh random
data key and stores that data key only *wrapped* (encrypted) by a master key the wrapper holds:
a local keyring (:mod:`pilothouse.keys.local`) or AWS KMS (:mod:`pilothouse.keys.kms`). Master
keys have ids; a wrapped key names the id that wrapped it, so after a rotation new objects use the
new key and old objects stay readable with the old one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class WrappedKey:
    """A data key encrypted by the master key ``key_id`` (opaque bytes, only its wrapper reads them)."""

    key_id: str
    ciphertext: bytes


class KeyError_(Exception):
    """Base class of the errors of the key port (named so as not to shadow the builtin)."""


class UnknownKey(KeyError_):
    """The wrapper holds no master key with this id (another keyring, or a key removed)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no master key with id {key_id!r} in this keyring")
        self.key_id = key_id


class UnwrapFailed(KeyError_):
    """The wrapped key is not one this wrapper made (tampered, or from another key)."""


class KeyWrapper(Protocol):
    """Master keys that wrap and unwrap data keys."""

    def current_key_id(self) -> str:
        """The id of the key :meth:`wrap` uses now."""
        ...

    def wrap(self, data_key: bytes) -> WrappedKey:
        """Encrypt ``data_key`` with the current master key."""
        ...

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        """The data key; :class:`UnknownKey` or :class:`UnwrapFailed` if it cannot be recovered."""
        ...
