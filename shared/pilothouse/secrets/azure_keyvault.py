"""Azure Key Vault as the secret backend (azure-keyvault-secrets, loaded here only).

One Key Vault secret per Pilothouse secret, named ``<prefix><name>`` (Key Vault names allow only
letters, digits and dashes: Pilothouse names, ``^[a-z][a-z0-9-]{0,62}$``, fit). Each Pilothouse
version is a ``SetSecret``, which makes a new Key Vault version; the metadata keeps that version's
id as its reference and reads it back by it, so a rollback to an older version reads exactly the
value that version had. ``forget`` disables the version (Key Vault cannot drop one version; a
disabled one is refused to every reader), ``delete`` soft-deletes the secret and purges it where
the vault allows (with purge protection on, the name stays taken until the retention ends, so a
secret created again under that name recovers it first and then writes its new version).

Authentication: a credential given, else azure-identity's DefaultAzureCredential (the function
app's managed identity; it needs the *Key Vault Secrets Officer* role on the vault). The SDK's
challenge-resource check stays on except for a vault on 127.0.0.1 (the tests' fake).

Values never reach a log line or an error: errors carry the secret's name, the version and Key
Vault's error code only, and the SDK's HTTP logging does not log bodies.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pilothouse.net.keyvault import vault_origin
from pilothouse.ports.secrets import SecretBackendError

NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
PREFIX = re.compile(r"^[A-Za-z0-9-]{0,60}$")
_REF = re.compile(r"^[0-9a-f]{32}$")


def _code(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or getattr(exc, "status_code", None)
    return str(code or type(exc).__name__)


class KeyVaultSecrets:
    """Secret values in one Azure Key Vault (see the module documentation)."""

    name = "keyvault"
    #: Key Vault's limit on a secret value (25 KiB); the service refuses a larger one with a 422
    max_value_bytes = 25 * 1024

    def __init__(
        self,
        vault_url: str,
        *,
        prefix: str = "pilothouse-",
        credential: Any = None,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        """``client_options`` go to the SDK's SecretClient (retry settings, ``connection_verify``)."""
        try:
            self.vault_url, loopback = vault_origin(vault_url)
        except ValueError as exc:
            raise SecretBackendError(f"secret backend keyvault: {exc}") from None
        if not PREFIX.match(prefix):
            raise SecretBackendError("secret backend keyvault: the prefix allows letters, digits and dashes")
        self.prefix = prefix
        if credential is None:
            from azure.identity import DefaultAzureCredential  # type: ignore[import-untyped, import-not-found, unused-ignore]

            credential = DefaultAzureCredential()
        from azure.keyvault.secrets import SecretClient

        options = dict(client_options or {})
        if loopback:
            options.setdefault("verify_challenge_resource", False)
        self._client = SecretClient(self.vault_url, credential, **options)

    def __repr__(self) -> str:
        return f"KeyVaultSecrets(vault_url={self.vault_url!r})"

    def _name(self, secret: str) -> str:
        if not isinstance(secret, str) or not NAME.match(secret):
            raise SecretBackendError(f"secret name {secret[:80]!r} is not one Key Vault can hold")
        return f"{self.prefix}{secret}"

    @staticmethod
    def _ref(secret: str, version: int, ref: str) -> str:
        if not isinstance(ref, str) or not _REF.match(ref):
            raise SecretBackendError(f"version {version} of secret {secret!r} has no Key Vault version id")
        return ref

    def put(self, secret: str, version: int, value: str) -> str:
        from azure.core.exceptions import HttpResponseError, ResourceExistsError

        name = self._name(secret)
        if len(value.encode("utf-8")) > self.max_value_bytes:
            raise SecretBackendError(
                f"version {version} of {secret!r} is over Key Vault's {self.max_value_bytes} bytes"
            )
        try:
            try:
                answer = self._client.set_secret(name, value)
            except ResourceExistsError:
                # deleted but recoverable (purge protection, or no purge right): recover, then write
                self._client.begin_recover_deleted_secret(name).wait()
                answer = self._client.set_secret(name, value)
        except HttpResponseError as exc:
            raise SecretBackendError(
                f"Key Vault refused version {version} of {secret!r}: {_code(exc)}"
            ) from None
        return str(answer.properties.version)

    def get(self, secret: str, version: int, ref: str) -> str:
        from azure.core.exceptions import HttpResponseError

        name, ref = self._name(secret), self._ref(secret, version, ref)
        try:
            answer = self._client.get_secret(name, ref)
        except HttpResponseError as exc:
            raise SecretBackendError(
                f"version {version} of secret {secret!r} is not readable in Key Vault: {_code(exc)}"
            ) from None
        if answer.value is None:
            raise SecretBackendError(f"version {version} of secret {secret!r} has no value in Key Vault")
        return str(answer.value)

    def forget(self, secret: str, version: int, ref: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        name, ref = self._name(secret), self._ref(secret, version, ref)
        try:
            self._client.update_secret_properties(name, ref, enabled=False)
        except ResourceNotFoundError:
            return
        except HttpResponseError as exc:
            raise SecretBackendError(
                f"Key Vault refused disabling {secret!r} v{version}: {_code(exc)}"
            ) from None

    def delete(self, secret: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        name = self._name(secret)
        try:
            self._client.begin_delete_secret(name).wait()
        except ResourceNotFoundError:
            return
        except HttpResponseError as exc:
            raise SecretBackendError(f"Key Vault refused deleting {secret!r}: {_code(exc)}") from None
        # purge protection or no purge right: the name stays soft-deleted, and put recovers it
        with contextlib.suppress(HttpResponseError):
            self._client.purge_deleted_secret(name)

    def runtime_reference(self, secret: str, version: int, ref: str) -> str | None:
        """``keyvault:<secret id>``: the versioned secret URI an Azure Functions app setting names
        as ``@Microsoft.KeyVault(SecretUri=...)``. Not one a Lambda function can read."""
        return f"keyvault:{self.vault_url}/secrets/{self._name(secret)}/{self._ref(secret, version, ref)}"
