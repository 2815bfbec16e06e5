"""The S3 calls of a Distributed Map, performed over an object store (the blobs port).

The interpreter never does I/O: it asks for these calls as internal tasks (an
:class:`~pilothouse.engine.model.InvokeTask` whose resource is one of :data:`INTERNAL`) and a
driver answers them with :func:`perform`, given anything with the blobs port's ``get``, ``put``
and ``list`` (duck-typed: the engine imports nothing else of Pilothouse).

The blobs port is one flat store; an S3 object ``s3://<Bucket>/<Key>`` is its blob
``<root><Bucket>/<Key>`` (a driver confines workflows to the blobs under ``root``).
"""

from __future__ import annotations

import re
from typing import Any

from .item_reader import GET_OBJECT, LIST_OBJECTS

#: the ResultWriter's call: ``{"Bucket", "Objects": [{"Key", "Body"}]}`` (several s3:putObject)
PUT_OBJECTS = "arn:aws:states:::s3:putObject"
INTERNAL = frozenset({GET_OBJECT, LIST_OBJECTS, PUT_OBJECTS})
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
LIST_PAGE = 1000


class S3CallFailed(Exception):
    """The call failed; ``error`` and ``cause`` are what the task reports."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


def is_internal(resource: str) -> bool:
    """True for the S3 calls a Distributed Map asks its driver for."""
    return resource in INTERNAL


def blob_key(bucket: Any, key: Any, root: str = "") -> str:
    """The blob holding ``s3://bucket/key`` (S3.InvalidBucketName for a bucket S3 would refuse)."""
    if not isinstance(bucket, str) or not _BUCKET.match(bucket) or ".." in bucket:
        raise S3CallFailed("S3.InvalidBucketName", f"invalid bucket name {bucket!r}")
    if not isinstance(key, str):
        raise S3CallFailed("S3.InvalidKey", f"invalid key {key!r}")
    return f"{root}{bucket}/{key}"


def perform(blobs: Any, resource: str, payload: Any, root: str = "") -> Any:
    """Do the S3 call ``resource`` with ``payload`` on the blobs under ``root`` of ``blobs``;
    raise :class:`S3CallFailed`."""
    if not isinstance(payload, dict):
        raise S3CallFailed("S3.InvalidRequest", "the parameters must be an object")
    try:
        if resource == GET_OBJECT:
            return blobs.get(blob_key(payload.get("Bucket"), payload.get("Key"), root)).decode("utf-8")
        if resource == LIST_OBJECTS:
            return _list(blobs, payload, root)
        if resource == PUT_OBJECTS:
            for obj in payload.get("Objects", []):
                blobs.put(
                    blob_key(payload.get("Bucket"), obj["Key"], root),
                    obj["Body"].encode("utf-8"),
                    content_type="application/json",
                )
            return {}
    except S3CallFailed:
        raise
    except UnicodeDecodeError:
        raise S3CallFailed("S3.InvalidObjectState", "the object is not UTF-8 text") from None
    except Exception as exc:  # the blobs port's errors (not importable here): named by their class
        name = type(exc).__name__
        error = "S3.NoSuchKey" if name == "BlobNotFound" else f"S3.{name}"
        raise S3CallFailed(error, str(exc)) from None
    raise S3CallFailed("S3.InvalidRequest", f"unsupported resource {resource!r}")


def _list(blobs: Any, payload: dict, root: str) -> dict:
    bucket = payload.get("Bucket")
    prefix = payload.get("Prefix", "") or ""
    if not isinstance(prefix, str):
        raise S3CallFailed("S3.InvalidRequest", "Prefix must be a string")
    root = blob_key(bucket, "", root)
    infos, cursor = blobs.list(root + prefix, limit=LIST_PAGE, cursor=payload.get("ContinuationToken"))
    page: dict = {
        "Contents": [
            {
                "Key": info.key[len(root) :],
                "Etag": f'"{info.etag}"' if not str(info.etag).startswith('"') else info.etag,
                "LastModified": int(info.modified),
                "Size": info.size,
                "StorageClass": "STANDARD",
            }
            for info in infos
        ]
    }
    if cursor:
        page["NextContinuationToken"] = cursor
    return page
