"""Blobs: the object-store port (:mod:`.base`) and its adapters (:mod:`.memory`, :mod:`.local`,
:mod:`.s3`). Only the port and the local adapters are imported here; ``pilothouse.blobs.s3``
pulls in boto3 when an :class:`~pilothouse.blobs.s3.S3Blobs` is created."""

from pilothouse.blobs.base import (
    BlobError,
    BlobInfo,
    BlobNotFound,
    Blobs,
    InvalidBlobArgument,
    InvalidKey,
)
from pilothouse.blobs.local import LocalBlobs
from pilothouse.blobs.memory import MemoryBlobs

__all__ = [
    "BlobError",
    "BlobInfo",
    "BlobNotFound",
    "Blobs",
    "InvalidBlobArgument",
    "InvalidKey",
    "LocalBlobs",
    "MemoryBlobs",
]
