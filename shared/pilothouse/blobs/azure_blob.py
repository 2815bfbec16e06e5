"""Blobs in an Azure Blob Storage container, encrypted at rest (semantics: see :mod:`.base`), through
``azure-storage-blob``.

    blobs = AzureBlobs("pilothouse-backups", connection_string=..., encryption_scope="pilothouse-cmk")

Encryption: Azure Storage always encrypts at rest. ``encryption_scope`` names an *encryption scope*
of the account (created by infra/azure's Bicep; a scope can be backed by a customer-managed key in
Key Vault): every ``put`` asks for it, and Azure refuses the write if the scope does not exist or
is disabled. ``customer_key`` (32 bytes) is a *customer-provided key* instead: Azure encrypts with
it and keeps only its hash, so every read needs it too; the SDK sends it only over HTTPS (Azurite's
plain HTTP cannot take one). The two are exclusive. Customer-managed keys themselves are a
property of the account or the scope, not of a request: they are the Bicep's business.

Where Azure differs from the port, the adapter translates:

* Metadata names must be C# identifiers on Azure; the port allows ``-`` and leading digits. A name
  is stored as ``m_`` + the name with ``_`` written ``_u`` and ``-`` written ``_d``, and read back.
* ``list`` uses Azure's listing (keys in order, ``results_per_page`` = ``limit``) and hands out
  Azure's continuation marker as the cursor.
* ``modified`` is Azure's ``Last-Modified`` (whole seconds); ``put`` answers with it too.
* ``create_container=True`` (tests, development) creates the container, private, if it is missing.

The SDK is imported when an adapter is created.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from pilothouse.blobs.base import (
    DEFAULT_CONTENT_TYPE,
    BlobError,
    BlobInfo,
    BlobNotFound,
    InvalidBlobArgument,
    check_key,
    check_list,
    check_prefix,
    check_put,
)

_METADATA_PREFIX = "m_"


class AzureBlobError(BlobError):
    """An Azure Blob Storage request failed; ``code`` is Azure's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def metadata_name_to_azure(name: str) -> str:
    """A port metadata name as a C# identifier (reversible: :func:`metadata_name_from_azure`)."""
    return _METADATA_PREFIX + name.replace("_", "_u").replace("-", "_d")


def metadata_name_from_azure(name: str) -> str | None:
    """The port name of an Azure metadata name this adapter wrote; None for any other."""
    name = name.lower()
    if not name.startswith(_METADATA_PREFIX):
        return None
    out, text, i = [], name[len(_METADATA_PREFIX) :], 0
    while i < len(text):
        if text[i] == "_" and i + 1 < len(text) and text[i + 1] in "ud":
            out.append("_" if text[i + 1] == "u" else "-")
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _code(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    return str(getattr(code, "value", code) or type(exc).__name__)


class AzureBlobs:
    """Objects in one Azure Blob Storage container (see the module documentation)."""

    def __init__(
        self,
        container: str,
        *,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: Any = None,
        encryption_scope: str | None = None,
        customer_key: bytes | None = None,
        create_container: bool = False,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        """``client_options`` go to the SDK's client (retry settings, timeouts, request hooks)."""
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
        from azure.storage.blob import BlobServiceClient, ContentSettings, CustomerProvidedEncryptionKey

        if encryption_scope and customer_key:
            raise InvalidBlobArgument("an encryption scope and a customer-provided key are exclusive")
        if customer_key is not None and len(customer_key) != 32:
            raise InvalidBlobArgument("a customer-provided key is 32 bytes (AES-256)")
        if connection_string:
            service = BlobServiceClient.from_connection_string(connection_string, **(client_options or {}))
        elif account_url:
            service = BlobServiceClient(account_url, credential=credential, **(client_options or {}))
        else:
            raise AzureBlobError("Azure blobs need a connection string or an account URL", "NoAccount")
        self.container = container
        self._client = service.get_container_client(container)
        if customer_key is not None and not str(self._client.url).lower().startswith("https://"):
            raise InvalidBlobArgument("a customer-provided key is sent only over HTTPS")
        self._HttpResponseError = HttpResponseError
        self._NotFound = ResourceNotFoundError
        self._Exists = ResourceExistsError
        self._ContentSettings = ContentSettings
        self.encryption_scope = encryption_scope
        self._cpk = (
            CustomerProvidedEncryptionKey(
                base64.b64encode(customer_key).decode(),
                base64.b64encode(hashlib.sha256(customer_key).digest()).decode(),
            )
            if customer_key is not None
            else None
        )
        if create_container:
            self._create_container()

    # -- helpers -----------------------------------------------------------------------------------

    def _error(self, exc: Exception, operation: str, key: str | None) -> BlobError:
        code = _code(exc)
        if key is not None and (isinstance(exc, self._NotFound) or code == "BlobNotFound"):
            return BlobNotFound(key)
        where = f"{self.container}/{key}" if key is not None else f"container {self.container!r}"
        message = str(getattr(exc, "message", None) or exc).splitlines()[0][:300]
        return AzureBlobError(f"Azure {operation} on {where} failed: {code}: {message}", code)

    def _create_container(self) -> None:
        try:
            self._client.create_container()  # no public access unless asked for
        except self._Exists:
            return
        except self._HttpResponseError as exc:
            raise self._error(exc, "create_container", None) from exc

    def _read_options(self) -> dict[str, Any]:
        return {"cpk": self._cpk} if self._cpk is not None else {}

    def _write_options(self) -> dict[str, Any]:
        if self._cpk is not None:
            return {"cpk": self._cpk}
        return {"encryption_scope": self.encryption_scope} if self.encryption_scope else {}

    @staticmethod
    def _metadata(raw: dict[str, str] | None) -> dict[str, str]:
        out = {}
        for name, value in (raw or {}).items():
            ours = metadata_name_from_azure(name)
            if ours is not None:
                out[ours] = value
        return out

    # -- the port ----------------------------------------------------------------------------------

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: dict[str, str] | None = None,
    ) -> BlobInfo:
        check_key(key)
        metadata = check_put(data, content_type, metadata)
        data = bytes(data)
        try:
            answer = self._client.get_blob_client(key).upload_blob(
                data,
                overwrite=True,
                content_settings=self._ContentSettings(content_type=content_type),
                metadata={metadata_name_to_azure(k): v for k, v in metadata.items()},
                **self._write_options(),
            )
        except self._HttpResponseError as exc:
            raise self._error(exc, "upload_blob", key) from exc
        etag, modified = str(answer["etag"]).strip('"'), answer["last_modified"].timestamp()
        return BlobInfo(key, len(data), etag, modified, content_type, metadata)

    def get(self, key: str) -> bytes:
        check_key(key)
        try:
            return bytes(self._client.download_blob(key, **self._read_options()).readall())
        except self._HttpResponseError as exc:
            raise self._error(exc, "download_blob", key) from exc

    def head(self, key: str) -> BlobInfo:
        check_key(key)
        try:
            props = self._client.get_blob_client(key).get_blob_properties(**self._read_options())
        except self._HttpResponseError as exc:
            raise self._error(exc, "get_blob_properties", key) from exc
        return BlobInfo(
            key=key,
            size=int(props.size),
            etag=str(props.etag).strip('"'),
            modified=props.last_modified.timestamp(),
            content_type=props.content_settings.content_type or DEFAULT_CONTENT_TYPE,
            metadata=self._metadata(props.metadata),
        )

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        check_key(key)
        try:
            self._client.delete_blob(key)
        except self._NotFound:
            return
        except self._HttpResponseError as exc:
            raise self._error(exc, "delete_blob", key) from exc

    def list(
        self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[BlobInfo], str | None]:
        check_prefix(prefix)
        check_list(limit, cursor)
        try:
            pages: Any = self._client.list_blobs(
                name_starts_with=prefix or None, results_per_page=limit
            ).by_page(continuation_token=cursor)
            page: list[Any] = list(next(pages, []))
            items = [
                BlobInfo(b.name, int(b.size), str(b.etag).strip('"'), b.last_modified.timestamp())
                for b in page
            ]
            return items, (pages.continuation_token or None)
        except self._HttpResponseError as exc:
            raise self._error(exc, "list_blobs", None) from exc
