"""Azure Key Vault as the key port: data keys wrapped by a Key Vault key (azure-keyvault-keys,
loaded here only).

``wrap`` is Key Vault's wrapKey through the SDK's CryptographyClient: RSA-OAEP-256 for an RSA key
(the SDK may do it locally with the public key it fetched; the private key never leaves the vault)
or A256KW for an ``oct-HSM`` key (Managed HSM), always in the vault (the SDK would otherwise wrap
with a random local key: see :meth:`KeyVaultKeyWrapper._client`). The wrapped key's id is the
*versioned* key id (``https://<vault>/keys/<name>/<version>``), so after a rotation (a new key version, or
``PILOTHOUSE_AZURE_KEYVAULT_KEY_NAME`` pointed at another key) new data keys name the new version
and old ones still unwrap with theirs, as long as that version stays enabled.

The algorithm is the setting's for a wrap, and the wrapped key's own for an unwrap: the two
algorithms' outputs cannot be mistaken for each other (RSA-OAEP-256 gives the modulus' size, at
least 256 bytes for Key Vault's 2048-bit minimum; A256KW gives the data key plus 8 bytes, 40 for
a 32-byte data key), so switching ``PILOTHOUSE_AZURE_KEYVAULT_WRAP_ALGORITHM`` (and the key with
it) leaves every data key wrapped before the switch readable.

The wrapper follows the key's current version: it re-reads which version is current every
``refresh_seconds`` (a pinned ``key_version`` never moves). ``unwrap`` accepts only key ids of
this vault (a wrapped key cannot send the identity's token to another host) and maps Key Vault's
answers onto the port: a missing or disabled version is :class:`UnknownKey`, a ciphertext the key
refuses is :class:`UnwrapFailed`. Data keys and key material are never logged.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pilothouse.net.keyvault import vault_origin
from pilothouse.ports.keys import KeyError_, UnknownKey, UnwrapFailed, WrappedKey

ALGORITHMS = ("RSA-OAEP-256", "A256KW")
_KEY_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_KEY_PATH = re.compile(r"^/keys/([0-9A-Za-z-]{1,127})/([0-9A-Za-z]{1,64})$")
_MAX_CLIENTS = 64
#: RSA-OAEP-256's output is the RSA modulus' size: at least 256 bytes (2048-bit keys and up)
_RSA_MIN_BYTES = 256


def algorithm_of(ciphertext: bytes) -> str:
    """The algorithm that wrapped ``ciphertext``, from its size (see the module's docstring).

    >>> algorithm_of(bytes(40)), algorithm_of(bytes(256)), algorithm_of(bytes(512))
    ('A256KW', 'RSA-OAEP-256', 'RSA-OAEP-256')
    """
    return "RSA-OAEP-256" if len(ciphertext) >= _RSA_MIN_BYTES else "A256KW"


def _code(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "code", None) or getattr(exc, "status_code", None) or type(exc).__name__)


class KeyVaultKeyWrapper:
    """Wraps data keys with the Key Vault key ``key_name`` of ``vault_url``."""

    def __init__(
        self,
        vault_url: str,
        key_name: str,
        *,
        key_version: str | None = None,
        algorithm: str = "RSA-OAEP-256",
        credential: Any = None,
        client_options: dict[str, Any] | None = None,
        refresh_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        try:
            self.vault_url, loopback = vault_origin(vault_url)
        except ValueError as exc:
            raise KeyError_(f"key provider keyvault: {exc}") from None
        if not _KEY_NAME.match(key_name or "") or (
            key_version and not re.match(r"^[0-9A-Za-z]{1,64}$", key_version)
        ):
            raise KeyError_(
                "key provider keyvault: a key name is letters, digits and dashes; a version alphanumeric"
            )
        if algorithm not in ALGORITHMS:
            raise KeyError_(f"key provider keyvault: the wrap algorithm is one of {', '.join(ALGORITHMS)}")
        if credential is None:
            from azure.identity import DefaultAzureCredential  # type: ignore[import-untyped, import-not-found, unused-ignore]

            credential = DefaultAzureCredential()
        self.key_name = key_name
        self.key_version = key_version
        self.algorithm = algorithm
        self._credential = credential
        self._options = dict(client_options or {})
        if loopback:
            self._options.setdefault("verify_challenge_resource", False)
        self._refresh = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._current: tuple[float, str] | None = None  # (read at, versioned key id)
        self._clients: dict[str, Any] = {}
        self._key_client: Any = None

    def __repr__(self) -> str:
        return f"KeyVaultKeyWrapper(vault_url={self.vault_url!r}, key_name={self.key_name!r})"

    def _client(self, key_id: str, algorithm: str) -> Any:
        with self._lock:
            client = self._clients.get(key_id)
            if client is None:
                from azure.keyvault.keys.crypto import CryptographyClient

                if len(self._clients) >= _MAX_CLIENTS:
                    self._clients.pop(next(iter(self._clients)))
                client = self._clients[key_id] = CryptographyClient(key_id, self._credential, **self._options)
            if algorithm == "A256KW":
                # An oct-HSM key's JWK carries no key material, and the SDK (4.11) then builds a
                # local symmetric provider around a *random* key and wraps with it: data keys no
                # other process could unwrap. Marking the client initialized keeps every
                # operation in the vault (test_key_wrapper_contract checks each wrap reaches it).
                client._initialized = True
            return client

    def current_key_id(self) -> str:
        """The versioned id of the key wrap uses now (read from the vault, then cached)."""
        if self.key_version:
            return f"{self.vault_url}/keys/{self.key_name}/{self.key_version}"
        now = self._clock()
        current = self._current
        if current is not None and now - current[0] < self._refresh:
            return current[1]
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from azure.keyvault.keys import KeyClient

        with self._lock:
            if self._key_client is None:
                self._key_client = KeyClient(self.vault_url, self._credential, **self._options)
        try:
            key = self._key_client.get_key(self.key_name)
        except ResourceNotFoundError as exc:
            raise UnknownKey(f"{self.vault_url}/keys/{self.key_name}") from exc
        except HttpResponseError as exc:
            raise KeyError_(f"Key Vault refused reading key {self.key_name!r}: {_code(exc)}") from None
        key_id = f"{self.vault_url}/keys/{self.key_name}/{key.properties.version}"
        self._current = (now, key_id)
        return key_id

    def _check_key_id(self, key_id: str) -> str:
        parts = urlsplit(key_id) if isinstance(key_id, str) and len(key_id) <= 400 else None
        try:
            origin = vault_origin(f"{parts.scheme}://{parts.netloc}")[0] if parts else None
        except ValueError:
            origin = None
        if parts is None or origin != self.vault_url or not _KEY_PATH.match(parts.path) or parts.query:
            raise UnknownKey(str(key_id)[:200])
        return f"{origin}{parts.path}"

    def wrap(self, data_key: bytes) -> WrappedKey:
        from azure.core.exceptions import HttpResponseError
        from azure.keyvault.keys.crypto import KeyWrapAlgorithm

        key_id = self.current_key_id()
        try:
            answer = self._client(key_id, self.algorithm).wrap_key(KeyWrapAlgorithm(self.algorithm), data_key)
        except HttpResponseError as exc:
            raise KeyError_(f"Key Vault wrapKey with {key_id!r} failed: {_code(exc)}") from None
        return WrappedKey(str(answer.key_id or key_id), bytes(answer.encrypted_key))

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
        from azure.keyvault.keys.crypto import KeyWrapAlgorithm

        key_id = self._check_key_id(wrapped.key_id)
        algorithm = algorithm_of(wrapped.ciphertext)
        client = self._client(key_id, algorithm)
        try:
            answer = client.unwrap_key(KeyWrapAlgorithm(algorithm), wrapped.ciphertext)
        except ResourceNotFoundError as exc:
            raise UnknownKey(key_id) from exc
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise UnknownKey(key_id) from exc  # disabled, or no right to use it any more
            if exc.status_code == 400:
                raise UnwrapFailed(f"Key Vault refused the wrapped key ({_code(exc)})") from None
            raise KeyError_(f"Key Vault unwrapKey failed: {_code(exc)}") from None
        return bytes(answer.key)
