"""Blobs in a Cloud Storage bucket, encrypted at rest (semantics: see :mod:`.base`).

    blobs = GcsBlobs("pilothouse-backups", kms_key_name="projects/p/locations/l/keyRings/r/cryptoKeys/k")

Cloud Storage encrypts every object with Google-managed keys; ``kms_key_name`` (a Cloud KMS key,
CMEK) makes every ``put`` ask for that key (the upload's ``kmsKeyName``), whatever the bucket's
default key is. The service agent of Cloud Storage needs ``roles/cloudkms.cryptoKeyEncrypterDecrypter``
on the key (the Terraform grants it). ``google-cloud-storage`` is imported when an adapter is created.

``list`` pages by key: the cursor is the page's last key (opaque, base64url), and the next page
lists from it with the JSON API's ``startOffset`` (Cloud Storage lists in UTF-8 byte order), asking
for one object more than the page to know whether another page follows.
``create_bucket=True`` (tests, development against the emulator) creates a missing bucket with
uniform bucket-level access and public access prevention enforced; deployed buckets come from the
Terraform, where the same settings (and versioning, and the default KMS key) belong.

Notes: the etag is the object's (Cloud Storage changes it with every new generation); ``modified``
is the object's ``updated`` time. Project and endpoint follow the SDK (``GOOGLE_CLOUD_PROJECT``,
``STORAGE_EMULATOR_HOST``).
"""

from __future__ import annotations

import base64
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


class GcsError(BlobError):
    """A Cloud Storage request failed; ``code`` is the HTTP status it answered."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


class GcsBlobs:
    """Objects in ``bucket``. ``client`` (a ``google.cloud.storage.Client``) wins over ``project``."""

    def __init__(
        self,
        bucket: str,
        *,
        client: Any = None,
        project: str | None = None,
        kms_key_name: str | None = None,
        create_bucket: bool = False,
    ) -> None:
        from google.api_core import exceptions as gexc

        if client is None:
            from google.cloud.storage import Client as StorageClient

            client = StorageClient(project=project)
        self._client = client
        self._gexc = gexc
        self.bucket_name = bucket
        self.kms_key_name = kms_key_name
        self._bucket = client.bucket(bucket)
        if create_bucket:
            self._create_bucket()

    # -- helpers -----------------------------------------------------------------------------------

    def _error(self, exc: Exception, operation: str, key: str | None) -> BlobError:
        if key is not None and isinstance(exc, self._gexc.NotFound):
            return BlobNotFound(key)
        where = f"gs://{self.bucket_name}/{key}" if key is not None else f"bucket {self.bucket_name!r}"
        code = getattr(exc, "code", None)
        message = getattr(exc, "message", None) or str(exc)
        return GcsError(f"Cloud Storage {operation} on {where} failed: {code}: {message}", code)

    def _create_bucket(self) -> None:
        bucket = self._client.bucket(self.bucket_name)
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        bucket.iam_configuration.public_access_prevention = "enforced"
        if self.kms_key_name:
            bucket.default_kms_key_name = self.kms_key_name
        try:
            self._client.create_bucket(bucket)
        except self._gexc.Conflict:
            pass  # there already
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, "create_bucket", None) from exc

    def _info(self, blob: Any, *, full: bool) -> BlobInfo:
        return BlobInfo(
            key=blob.name,
            size=int(blob.size or 0),
            etag=str(blob.etag or blob.md5_hash or blob.generation),
            modified=blob.updated.timestamp() if blob.updated else 0.0,
            content_type=(blob.content_type or DEFAULT_CONTENT_TYPE) if full else None,
            metadata=dict(blob.metadata or {}) if full else None,
        )

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
        blob = self._bucket.blob(key, kms_key_name=self.kms_key_name)
        blob.metadata = metadata or None
        try:
            blob.upload_from_string(bytes(data), content_type=content_type)
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, "upload", key) from exc
        info = self._info(blob, full=True)
        return BlobInfo(info.key, len(data), info.etag, info.modified, content_type, metadata)

    def get(self, key: str) -> bytes:
        check_key(key)
        try:
            return self._bucket.blob(key).download_as_bytes()
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, "download", key) from exc

    def head(self, key: str) -> BlobInfo:
        check_key(key)
        try:
            blob = self._bucket.get_blob(key)
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, "get", key) from exc
        if blob is None:
            raise BlobNotFound(key)
        return self._info(blob, full=True)

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        check_key(key)
        try:
            self._bucket.blob(key).delete()
        except self._gexc.NotFound:
            return  # absent is fine
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, "delete", key) from exc

    def list(
        self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[BlobInfo], str | None]:
        check_prefix(prefix)
        check_list(limit, cursor)
        after = _decode_cursor(cursor) if cursor is not None else None
        params: dict[str, Any] = {"prefix": prefix or None, "max_results": limit + 1 + (after is not None)}
        if after is not None:
            params["start_offset"] = after  # inclusive: the key itself is skipped below
        try:
            listed = [
                b for b in self._client.list_blobs(self._bucket, **params) if after is None or b.name > after
            ]
        except self._gexc.GoogleAPICallError as exc:
            raise self._error(exc, "list", None) from exc
        page = listed[:limit]
        more = len(listed) > limit
        return [self._info(b, full=False) for b in page], (_encode_cursor(page[-1].name) if more else None)


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode("utf-8")).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        key = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidBlobArgument("the cursor is not one this store handed out") from exc
    check_key(key)
    return key
