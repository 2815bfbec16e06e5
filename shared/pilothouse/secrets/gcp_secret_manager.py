"""Google Secret Manager as the secret backend (google-cloud-secret-manager, loaded here only).

One Secret Manager secret per Pilothouse secret, ``projects/<project>/secrets/<prefix><name>``
(automatic replication), created with the first version. Each Pilothouse version is an
``AddSecretVersion``; Secret Manager numbers versions itself, and the metadata keeps that number
as the reference, so a rollback to an older version reads exactly the value it had. ``forget``
destroys the version (its value is gone for good), ``delete`` deletes the secret.

Integrity as Google recommends: each payload goes up with its CRC32C and an accessed payload's
CRC32C is checked before its value is used. Authentication is the SDK's (Application Default
Credentials: the function's service account, which needs ``roles/secretmanager.secretVersionAdder``,
``secretVersionManager`` and ``secretAccessor`` on the secrets, see infra/gcp); ``client`` may
be given (tests give one on the REST transport, pointed at a fake).

Values never reach a log line or an error: errors carry the name, the version and the gRPC
status name only.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from pilothouse.google_calls import crc32c, status_name
from pilothouse.ports.secrets import SecretBackendError

NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
PREFIX = re.compile(r"^[A-Za-z0-9_-]{0,60}$")
PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$|^[0-9]{1,20}$")
_REF = re.compile(r"^[1-9][0-9]{0,9}$")


class GcpSecretManagerSecrets:
    """Secret values in Google Secret Manager (see the module documentation)."""

    name = "gcp-secret-manager"

    def __init__(self, project: str, *, prefix: str = "pilothouse-", client: Any = None) -> None:
        if not isinstance(project, str) or not PROJECT.match(project):
            raise SecretBackendError("secret backend gcp-secret-manager needs a valid project id")
        if not PREFIX.match(prefix):
            raise SecretBackendError(
                "secret backend gcp-secret-manager: the prefix allows letters, digits, _ and -"
            )
        self.project = project
        self.prefix = prefix
        if client is None:
            from google.cloud import secretmanager

            client = secretmanager.SecretManagerServiceClient()
        self._client = client

    def __repr__(self) -> str:
        return f"GcpSecretManagerSecrets(project={self.project!r})"

    def _secret(self, secret: str) -> str:
        if not isinstance(secret, str) or not NAME.match(secret):
            raise SecretBackendError(f"secret name {str(secret)[:80]!r} is not one Secret Manager can hold")
        return f"projects/{self.project}/secrets/{self.prefix}{secret}"

    def _version(self, secret: str, version: int, ref: str) -> str:
        if not isinstance(ref, str) or not _REF.match(ref):
            raise SecretBackendError(f"version {version} of secret {secret!r} has no Secret Manager version")
        return f"{self._secret(secret)}/versions/{ref}"

    def put(self, secret: str, version: int, value: str) -> str:
        from google.api_core.exceptions import GoogleAPICallError, NotFound

        name = self._secret(secret)
        data = value.encode("utf-8")
        request = {"parent": name, "payload": {"data": data, "data_crc32c": crc32c(data)}}
        try:
            if version == 1:
                self._create(name)
            try:
                answer = self._client.add_secret_version(request=request)
            except NotFound:  # deleted behind Pilothouse's back: the secret again, then the version
                self._create(name)
                answer = self._client.add_secret_version(request=request)
        except GoogleAPICallError as exc:
            raise SecretBackendError(
                f"Secret Manager refused version {version} of {secret!r}: {status_name(exc)}"
            ) from None
        return str(answer.name).rsplit("/", 1)[1]

    def _create(self, name: str) -> None:
        from google.api_core.exceptions import Conflict

        with contextlib.suppress(Conflict):  # ALREADY_EXISTS (a 409 on the REST transport)
            self._client.create_secret(
                request={
                    "parent": f"projects/{self.project}",
                    "secret_id": name.rsplit("/", 1)[1],
                    "secret": {"replication": {"automatic": {}}, "labels": {"managed-by": "pilothouse"}},
                }
            )

    def get(self, secret: str, version: int, ref: str) -> str:
        from google.api_core.exceptions import GoogleAPICallError

        name = self._version(secret, version, ref)
        try:
            answer = self._client.access_secret_version(request={"name": name})
        except GoogleAPICallError as exc:
            raise SecretBackendError(
                f"version {version} of secret {secret!r} is not readable in Secret Manager:"
                f" {status_name(exc)}"
            ) from None
        data = bytes(answer.payload.data)
        if crc32c(data) != int(answer.payload.data_crc32c or -1):
            raise SecretBackendError(f"version {version} of secret {secret!r} arrived corrupted (CRC32C)")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise SecretBackendError(f"version {version} of secret {secret!r} is not UTF-8") from None

    def forget(self, secret: str, version: int, ref: str) -> None:
        from google.api_core.exceptions import GoogleAPICallError, NotFound

        name = self._version(secret, version, ref)
        try:
            self._client.destroy_secret_version(request={"name": name})
        except NotFound:
            return
        except GoogleAPICallError as exc:
            if status_name(exc) == "FAILED_PRECONDITION":
                return  # destroyed already
            raise SecretBackendError(
                f"Secret Manager refused destroying {secret!r} v{version}: {status_name(exc)}"
            ) from None

    def delete(self, secret: str) -> None:
        from google.api_core.exceptions import GoogleAPICallError, NotFound

        try:
            self._client.delete_secret(request={"name": self._secret(secret)})
        except NotFound:
            return
        except GoogleAPICallError as exc:
            raise SecretBackendError(
                f"Secret Manager refused deleting {secret!r}: {status_name(exc)}"
            ) from None

    def runtime_reference(self, secret: str, version: int, ref: str) -> str | None:
        """``gcp-secret-manager:projects/<p>/secrets/<s>/versions/<n>``: the version a Cloud Run
        function mounts as a secret environment variable. Not one a Lambda function can read."""
        return f"{self.name}:{self._version(secret, version, ref)}"
