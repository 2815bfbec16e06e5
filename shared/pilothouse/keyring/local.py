"""A local keyring: AES-256 master keys with ids, from settings or from a key file.

Where the keys come from (:meth:`LocalKeyring.from_settings`):

- ``PILOTHOUSE_MASTER_KEYS="k1:<base64 32 bytes>,k2:<base64>"``: the keys, from a secret store
  or the environment; the current one is ``PILOTHOUSE_MASTER_KEY_ID`` or else the last listed.
  Rotation is then an operator's act: append a key to the setting.
- otherwise a key file (``<data dir>/keys/master.json`` unless ``PILOTHOUSE_KEY_FILE``), created on
  first use with one new key, mode 0600, by an atomic link (two processes starting at once agree
  on one file). A file that others may read is refused, as ssh refuses such a private key.
  :meth:`LocalKeyring.rotate` adds a new current key; old keys stay, so what they wrapped still
  unwraps.

A data key is wrapped with AES-256-GCM under the master key, the key id as associated data:
``WrappedKey(key_id, nonce | ciphertext+tag)``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pilothouse.errors import ConfigurationError
from pilothouse.ports.keys import UnknownKey, UnwrapFailed, WrappedKey

KEY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY_BYTES = 32
NONCE_BYTES = 12
FILE_FORMAT = 1


def new_key_id() -> str:
    """A key id that sorts by creation time: ``local-<UTC yyyymmddThhmmss>-<6 hex>``."""
    return "local-" + time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def _check_id(key_id: str) -> str:
    if not KEY_ID_RE.match(key_id):
        raise ConfigurationError(f"invalid master key id {key_id[:70]!r}: letters, digits, '.', '_', '-'")
    return key_id


def _decode_key(key_id: str, text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise ConfigurationError(f"master key {key_id!r} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise ConfigurationError(f"master key {key_id!r} must be {KEY_BYTES} bytes (AES-256), not {len(key)}")
    return key


def parse_master_keys(text: str) -> dict[str, bytes]:
    """``"id:base64,id2:base64"`` → ``{id: key}`` in the order given (the message never holds a key)."""
    keys: dict[str, bytes] = {}
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        key_id, sep, value = entry.partition(":")
        if not sep:
            raise ConfigurationError("PILOTHOUSE_MASTER_KEYS entries are id:base64-key, comma-separated")
        keys[_check_id(key_id.strip())] = _decode_key(key_id, value)
    if not keys:
        raise ConfigurationError("PILOTHOUSE_MASTER_KEYS names no key")
    return keys


class LocalKeyring:
    """Master keys by id; :meth:`wrap` uses the current one (implements ``ports.KeyWrapper``)."""

    def __init__(self, keys: dict[str, bytes], current: str, *, path: Path | None = None) -> None:
        if current not in keys:
            raise ConfigurationError(f"the current master key {current!r} is not in the keyring")
        for key_id, key in keys.items():
            _check_id(key_id)
            if len(key) != KEY_BYTES:
                raise ConfigurationError(f"master key {key_id!r} must be {KEY_BYTES} bytes")
        self._keys = dict(keys)
        self._current = current
        self.path = path
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never the keys
        return f"LocalKeyring(current={self._current!r}, ids={sorted(self._keys)}, path={self.path})"

    # -- construction ------------------------------------------------------------------------------

    @classmethod
    def generate(cls) -> LocalKeyring:
        """A keyring of one new key held in memory only (tests, scratch stores)."""
        key_id = new_key_id()
        return cls({key_id: os.urandom(KEY_BYTES)}, key_id)

    @classmethod
    def from_settings(cls, master_keys: str | None, current: str | None, key_file: Path) -> LocalKeyring:
        """The keys of the setting if given, else those of ``key_file`` (created on first use)."""
        if master_keys:
            keys = parse_master_keys(master_keys)
            chosen = current or list(keys)[-1]
            return cls(keys, chosen)
        ring = cls.open_file(key_file)
        if current and current != ring.current_key_id():
            ring = cls(ring._keys, current, path=key_file)
        return ring

    @classmethod
    def open_file(cls, path: Path) -> LocalKeyring:
        """The keyring of a key file; a new file with one key (mode 0600) if there is none."""
        path = Path(path)
        if not path.exists():
            _create_file(path)
        keys, current = _read_file(path)
        return cls(keys, current, path=path)

    # -- the port ----------------------------------------------------------------------------------

    def current_key_id(self) -> str:
        return self._current

    def key_ids(self) -> list[str]:
        """Every key id this keyring can unwrap with."""
        return list(self._keys)

    def wrap(self, data_key: bytes) -> WrappedKey:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        with self._lock:
            key_id, master = self._current, self._keys[self._current]
        nonce = os.urandom(NONCE_BYTES)
        return WrappedKey(key_id, nonce + AESGCM(master).encrypt(nonce, data_key, _aad(key_id)))

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        master = self._keys.get(wrapped.key_id)
        if master is None and self.path is not None:
            self._reload()  # another process may have rotated
            master = self._keys.get(wrapped.key_id)
        if master is None:
            raise UnknownKey(wrapped.key_id)
        blob = wrapped.ciphertext
        if len(blob) <= NONCE_BYTES:
            raise UnwrapFailed("the wrapped key is truncated")
        try:
            return bytes(AESGCM(master).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(wrapped.key_id)))
        except InvalidTag as exc:
            raise UnwrapFailed(f"the data key was not wrapped by master key {wrapped.key_id!r}") from exc

    # -- rotation ----------------------------------------------------------------------------------

    def rotate(self) -> str:
        """Add a new key and make it current (in the key file); return its id. Old keys stay."""
        if self.path is None:
            raise ConfigurationError(
                "the master keys come from PILOTHOUSE_MASTER_KEYS: add a key there to rotate"
            )
        with _file_lock(self.path):
            keys, _ = _read_file(self.path)
            key_id = new_key_id()
            while key_id in keys:
                key_id = new_key_id()
            keys[key_id] = os.urandom(KEY_BYTES)
            _write_file(self.path, keys, key_id, replace=True)
        with self._lock:
            self._keys, self._current = keys, key_id
        return key_id

    def _reload(self) -> None:
        assert self.path is not None
        keys, current = _read_file(self.path)
        with self._lock:
            self._keys, self._current = keys, current


def _aad(key_id: str) -> bytes:
    return b"pilothouse-wrap\x00" + key_id.encode()


def _encode(keys: dict[str, bytes], current: str) -> bytes:
    body = {
        "format": FILE_FORMAT,
        "current": current,
        "keys": {k: base64.b64encode(v).decode() for k, v in keys.items()},
    }
    return json.dumps(body, indent=1).encode() + b"\n"


def _write_file(path: Path, keys: dict[str, bytes], current: str, *, replace: bool) -> None:
    """Write the key file 0600 through a temporary file: renamed over (``replace``) or linked
    into place (fails with FileExistsError if another process created it first)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(_encode(keys, current))
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _create_file(path: Path) -> None:
    key_id = new_key_id()
    with contextlib.suppress(FileExistsError):  # another process won: use its file
        _write_file(path, {key_id: os.urandom(KEY_BYTES)}, key_id, replace=False)


def _read_file(path: Path) -> tuple[dict[str, bytes], str]:
    try:
        st = path.stat()
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the key file {path}: {exc.strerror}") from exc
    if os.name == "posix" and stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigurationError(
            f"the key file {path} may be read by others (mode {stat.S_IMODE(st.st_mode):o}): chmod 600 it"
        )
    try:
        body: Any = json.loads(raw)
        if body.get("format") != FILE_FORMAT:
            raise ConfigurationError(f"the key file {path} has an unknown format {body.get('format')!r}")
        keys = {_check_id(k): _decode_key(k, v) for k, v in body["keys"].items()}
        current = str(body["current"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"the key file {path} is malformed") from exc
    if current not in keys:
        raise ConfigurationError(f"the key file {path} names a current key it does not hold")
    return keys, current


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock beside the key file (POSIX flock; a plain section elsewhere)."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        yield
    finally:
        os.close(fd)
