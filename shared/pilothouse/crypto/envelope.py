"""Envelope encryption: AES-256-GCM under a random data key, the data key wrapped by a master key.

One object (a secret value, a record)::

    >>> from pilothouse.keyring.local import LocalKeyring
    >>> ring = LocalKeyring.generate()
    >>> sealed = seal(ring, b"hunter2", aad=b"secret:db-password")
    >>> open_sealed(ring, sealed, aad=b"secret:db-password")
    b'hunter2'

Each :func:`seal` draws a fresh random 256-bit data key and a fresh 96-bit nonce; the associated
data (``aad``) binds the ciphertext to the object's identity (its name, its backup and chunk
number...), so a ciphertext copied under another identity does not open. The sealed bytes carry
the wrapped data key and the id of the master key that wrapped it, so after a rotation old objects
still open (the keyring keeps old keys) while new ones use the new key.

Layout of :func:`seal`'s output (all lengths big-endian)::

    b"PHE1" | u16 len | key id (UTF-8) | u16 len | wrapped data key | 12-byte nonce | ciphertext+tag

and the AEAD's associated data is everything before the nonce, then ``b"\\x00"``, then ``aad``:
changing the header (another key id, another wrapped key) fails authentication too.

Many parts under one data key (backup chunks): :class:`StreamSealer` wraps one data key and seals
each part with its own nonce, its index and a "last" flag in the associated data, so parts cannot
be reordered, dropped from the end or moved to another stream; :class:`StreamOpener` opens them.
:meth:`StreamSealer.derive` gives sub-keys (an HMAC key for a manifest) from the same data key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pilothouse.ports.keys import KeyError_, WrappedKey

if TYPE_CHECKING:
    from pilothouse.ports.keys import KeyWrapper

MAGIC = b"PHE1"
STREAM_MAGIC = b"PHS1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_KEY_ID_BYTES = 2048
MAX_WRAPPED_BYTES = 4096


class EnvelopeError(ValueError):
    """Sealed bytes that do not open: tampered, truncated, sealed for another identity, or under a
    master key this keyring does not hold. The message never contains key material."""


def _aesgcm(key: bytes) -> Any:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def new_data_key() -> bytes:
    """A random 256-bit key."""
    return os.urandom(KEY_BYTES)


def _header(magic: bytes, wrapped: WrappedKey) -> bytes:
    key_id = wrapped.key_id.encode()
    if len(key_id) > MAX_KEY_ID_BYTES or len(wrapped.ciphertext) > MAX_WRAPPED_BYTES:
        raise EnvelopeError("the wrapped key is larger than an envelope carries")
    return (
        magic
        + struct.pack(">H", len(key_id))
        + key_id
        + struct.pack(">H", len(wrapped.ciphertext))
        + wrapped.ciphertext
    )


def _parse_header(magic: bytes, data: bytes) -> tuple[WrappedKey, int]:
    """The wrapped key a header names and where the header ends."""
    try:
        if data[:4] != magic:
            raise EnvelopeError("not a Pilothouse envelope (or of an unknown format version)")
        pos = 4
        (n,) = struct.unpack_from(">H", data, pos)
        pos += 2
        key_id = data[pos : pos + n].decode()
        pos += n
        (m,) = struct.unpack_from(">H", data, pos)
        pos += 2
        wrapped = data[pos : pos + m]
        pos += m
    except (struct.error, UnicodeDecodeError) as exc:
        raise EnvelopeError("the envelope's header is truncated or malformed") from exc
    if len(wrapped) != m or pos > len(data):
        raise EnvelopeError("the envelope's header is truncated")
    return WrappedKey(key_id, wrapped), pos


def _unwrap(wrapper: KeyWrapper, wrapped: WrappedKey) -> bytes:
    try:
        key = wrapper.unwrap(wrapped)
    except KeyError_ as exc:
        raise EnvelopeError(f"the data key does not unwrap: {exc}") from exc
    if len(key) != KEY_BYTES:
        raise EnvelopeError("the data key does not unwrap to a 256-bit key")
    return key


def _decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    from cryptography.exceptions import InvalidTag

    if len(nonce) != NONCE_BYTES or len(ciphertext) < TAG_BYTES:
        raise EnvelopeError("the sealed data is truncated")
    try:
        return bytes(_aesgcm(key).decrypt(nonce, ciphertext, aad))
    except InvalidTag as exc:
        raise EnvelopeError(
            "the sealed data does not authenticate (tampered, truncated or sealed for another object)"
        ) from exc


def seal(wrapper: KeyWrapper, plaintext: bytes, *, aad: bytes) -> bytes:
    """Encrypt ``plaintext`` under a fresh data key wrapped by ``wrapper``'s current key."""
    data_key = new_data_key()
    header = _header(MAGIC, wrapper.wrap(data_key))
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = _aesgcm(data_key).encrypt(nonce, plaintext, header + b"\x00" + aad)
    return header + nonce + ciphertext


def open_sealed(wrapper: KeyWrapper, sealed: bytes, *, aad: bytes) -> bytes:
    """The plaintext :func:`seal` sealed with the same ``aad``; :class:`EnvelopeError` otherwise."""
    wrapped, pos = _parse_header(MAGIC, sealed)
    key = _unwrap(wrapper, wrapped)
    return _decrypt(
        key, sealed[pos : pos + NONCE_BYTES], sealed[pos + NONCE_BYTES :], sealed[:pos] + b"\x00" + aad
    )


def sealed_key_id(sealed: bytes) -> str:
    """The id of the master key that wrapped a sealed object's data key (to re-seal after rotation)."""
    return _parse_header(MAGIC, sealed)[0].key_id


def _part_aad(header: bytes, aad: bytes, index: int, last: bool) -> bytes:
    return header + b"\x00" + struct.pack(">QB", index, 1 if last else 0) + aad


class StreamSealer:
    """Seals the parts of one stream (a backup's chunks) under one wrapped data key.

    ``header`` (store it with the stream: a manifest, the first frame) names the wrapped key;
    :class:`StreamOpener` needs it and the same ``aad`` to open the parts.
    """

    def __init__(self, wrapper: KeyWrapper, *, aad: bytes) -> None:
        self._key = new_data_key()
        self.wrapped = wrapper.wrap(self._key)
        self.header = _header(STREAM_MAGIC, self.wrapped)
        self._aad = aad
        self._cipher = _aesgcm(self._key)

    def seal_part(self, index: int, data: bytes, *, last: bool = False) -> bytes:
        """``nonce | ciphertext+tag`` of part ``index``."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._cipher.encrypt(nonce, data, _part_aad(self.header, self._aad, index, last))

    def derive(self, label: str) -> bytes:
        """A 256-bit sub-key of the data key for ``label`` (e.g. the manifest's HMAC key)."""
        return derive_key(self._key, label)


class StreamOpener:
    """Opens the parts a :class:`StreamSealer` with this ``header`` and ``aad`` sealed."""

    def __init__(self, wrapper: KeyWrapper, header: bytes, *, aad: bytes) -> None:
        wrapped, end = _parse_header(STREAM_MAGIC, header)
        if end != len(header):
            raise EnvelopeError("the stream header has trailing bytes")
        self.wrapped = wrapped
        self.header = header
        self._key = _unwrap(wrapper, wrapped)
        self._aad = aad

    def open_part(self, index: int, sealed: bytes, *, last: bool = False) -> bytes:
        """The plaintext of part ``index``; :class:`EnvelopeError` if it was changed or moved."""
        return _decrypt(
            self._key,
            sealed[:NONCE_BYTES],
            sealed[NONCE_BYTES:],
            _part_aad(self.header, self._aad, index, last),
        )

    def derive(self, label: str) -> bytes:
        """The same sub-key :meth:`StreamSealer.derive` gave."""
        return derive_key(self._key, label)


def derive_key(key: bytes, label: str) -> bytes:
    """HMAC-SHA256(key, "pilothouse/" + label): a sub-key for one purpose."""
    return hmac.new(key, b"pilothouse/" + label.encode(), hashlib.sha256).digest()


def seal_stream(wrapper: KeyWrapper, parts: Iterable[bytes], *, aad: bytes) -> Iterator[bytes]:
    """Frames of a sealed stream: the header, then each part (length-prefixed), the last one marked.

    Memory stays at one part: the parts are read one ahead to know which is last.
    """
    sealer = StreamSealer(wrapper, aad=aad)
    yield struct.pack(">I", len(sealer.header)) + sealer.header
    index, pending = 0, None
    for part in parts:
        if pending is not None:
            frame = sealer.seal_part(index, pending)
            yield struct.pack(">I", len(frame)) + frame
            index += 1
        pending = part
    frame = sealer.seal_part(index, pending if pending is not None else b"", last=True)
    yield struct.pack(">I", len(frame)) + frame


def open_stream(wrapper: KeyWrapper, frames: bytes, *, aad: bytes) -> Iterator[bytes]:
    """The parts of :func:`seal_stream`'s concatenated frames; :class:`EnvelopeError` if the stream was
    changed, reordered or cut short (a missing last part is detected)."""
    pos = 0

    def frame() -> bytes:
        nonlocal pos
        if pos + 4 > len(frames):
            raise EnvelopeError("the sealed stream is truncated")
        (n,) = struct.unpack_from(">I", frames, pos)
        body = frames[pos + 4 : pos + 4 + n]
        if len(body) != n:
            raise EnvelopeError("the sealed stream is truncated")
        pos += 4 + n
        return body

    opener = StreamOpener(wrapper, frame(), aad=aad)
    index = 0
    while True:
        body = frame()
        last = pos == len(frames)
        yield opener.open_part(index, body, last=last)
        if last:
            return
        index += 1


def encode_wrapped(wrapped: WrappedKey) -> dict[str, str]:
    """A wrapped key as JSON-safe text (for manifests and records)."""
    return {"key_id": wrapped.key_id, "ciphertext": base64.b64encode(wrapped.ciphertext).decode()}


def decode_wrapped(value: Any) -> WrappedKey:
    """The inverse of :func:`encode_wrapped`; :class:`EnvelopeError` if malformed."""
    try:
        return WrappedKey(str(value["key_id"]), base64.b64decode(value["ciphertext"], validate=True))
    except (KeyError, TypeError, ValueError) as exc:
        raise EnvelopeError("the wrapped key is malformed") from exc
