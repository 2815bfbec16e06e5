"""Blobs in an S3 bucket, encrypted at rest (semantics: see :mod:`.base`).

    blobs = S3Blobs("pilothouse-backups", kms_key_id="alias/pilothouse")

Every ``put`` asks for server-side encryption: SSE-KMS with ``kms_key_id`` when one is given
(``ServerSideEncryption="aws:kms"`` and ``SSEKMSKeyId``), else SSE-S3 (``AES256``). boto3 is
imported when an adapter is created. ``list`` uses ListObjectsV2 and hands out S3's continuation
token as the cursor. ``create_bucket=True`` (tests, development against moto) creates the bucket
if it is missing, with versioning on and every public access blocked; deployed buckets come from
infrastructure code, where the same settings belong.

Notes: with versioning on, ``delete`` adds a delete marker (earlier versions stay until a
lifecycle rule expires them). The ``BlobInfo`` a ``put`` returns has the local time as
``modified`` (PutObject does not answer S3's); ``head`` has S3's, to the second. The etag of an
SSE-KMS object is not the MD5 of its bytes.
"""

from __future__ import annotations

import time
from typing import Any

from pilothouse.blobs.base import (
    DEFAULT_CONTENT_TYPE,
    BlobError,
    BlobInfo,
    BlobNotFound,
    check_key,
    check_list,
    check_prefix,
    check_put,
)

_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}


class S3Error(BlobError):
    """An S3 request failed; ``code`` is AWS's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class S3Blobs:
    """Objects in ``bucket``. ``client`` (a boto3 S3 client) wins over ``region``/``endpoint_url``."""

    def __init__(
        self,
        bucket: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        kms_key_id: str | None = None,
        create_bucket: bool = False,
    ) -> None:
        from botocore.exceptions import ClientError

        if client is None:
            import boto3

            client = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
        self._client = client
        self._client_error = ClientError
        self.bucket = bucket
        self.kms_key_id = kms_key_id
        if create_bucket:
            self._create_bucket()

    # -- helpers -----------------------------------------------------------------------------------

    def _error(self, exc: Exception, operation: str, key: str | None) -> BlobError:
        error = getattr(exc, "response", {}).get("Error", {})
        code = str(error.get("Code", ""))
        if key is not None and code in _NOT_FOUND:
            return BlobNotFound(key)
        where = f"s3://{self.bucket}/{key}" if key is not None else f"bucket {self.bucket!r}"
        return S3Error(f"S3 {operation} on {where} failed: {code}: {error.get('Message', '')}", code)

    def _call(self, operation: str, key: str | None, **params: Any) -> dict:
        try:
            return getattr(self._client, operation)(Bucket=self.bucket, **params)
        except self._client_error as exc:
            raise self._error(exc, operation, key) from exc

    def _create_bucket(self) -> None:
        params: dict[str, Any] = {}
        region = self._client.meta.region_name
        if region and region != "us-east-1":  # us-east-1 refuses an explicit LocationConstraint
            params["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(Bucket=self.bucket, **params)
        except self._client_error as exc:
            if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
                raise self._error(exc, "create_bucket", None) from exc
        self._call("put_bucket_versioning", None, VersioningConfiguration={"Status": "Enabled"})
        self._call(
            "put_public_access_block",
            None,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )

    def _encryption(self) -> dict[str, str]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

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
        answer = self._call(
            "put_object",
            key,
            Key=key,
            Body=data,
            ContentType=content_type,
            Metadata=metadata,
            **self._encryption(),
        )
        return BlobInfo(key, len(data), answer["ETag"].strip('"'), time.time(), content_type, metadata)

    def get(self, key: str) -> bytes:
        check_key(key)
        answer = self._call("get_object", key, Key=key)
        with answer["Body"] as body:
            return body.read()

    def head(self, key: str) -> BlobInfo:
        check_key(key)
        answer = self._call("head_object", key, Key=key)
        return BlobInfo(
            key=key,
            size=int(answer["ContentLength"]),
            etag=answer["ETag"].strip('"'),
            modified=answer["LastModified"].timestamp(),
            content_type=answer.get("ContentType", DEFAULT_CONTENT_TYPE),
            metadata=dict(answer.get("Metadata", {})),
        )

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        check_key(key)
        self._call("delete_object", key, Key=key)  # S3 answers 204 for a missing key too

    def list(
        self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[BlobInfo], str | None]:
        check_prefix(prefix)
        check_list(limit, cursor)
        params: dict[str, Any] = {"Prefix": prefix, "MaxKeys": limit}
        if cursor is not None:
            params["ContinuationToken"] = cursor
        answer = self._call("list_objects_v2", None, **params)
        page = [
            BlobInfo(o["Key"], int(o["Size"]), o["ETag"].strip('"'), o["LastModified"].timestamp())
            for o in answer.get("Contents", [])
        ]
        return page, (answer.get("NextContinuationToken") if answer.get("IsTruncated") else None)
