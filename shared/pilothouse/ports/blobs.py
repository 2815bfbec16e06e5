"""The blobs port (see :mod:`pilothouse.ports`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class BlobInfo:
    """What is known of a stored object; ``modified`` is seconds since the epoch."""

    key: str
    size: int
    etag: str
    modified: float
    content_type: str | None = None
    metadata: dict[str, str] | None = None


class BlobError(Exception):
    """Base class of the errors of the blobs port."""


class BlobNotFound(BlobError):
    """No object has this key."""

    def __init__(self, key: str) -> None:
        super().__init__(f"no blob with key {key!r}")
        self.key = key


class InvalidKey(BlobError, ValueError):
    """The key breaks the rules of :mod:`pilothouse.blobs.base`."""


class InvalidBlobArgument(BlobError, ValueError):
    """An argument other than the key is outside what the port allows."""


class Blobs(Protocol):
    """An object store: bytes under '/'-separated keys, with a content type and metadata."""

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: dict[str, str] | None = None,
    ) -> BlobInfo: ...

    def get(self, key: str) -> bytes: ...

    def head(self, key: str) -> BlobInfo: ...

    def delete(self, key: str) -> None: ...

    def list(
        self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[BlobInfo], str | None]: ...

    def exists(self, key: str) -> bool: ...
