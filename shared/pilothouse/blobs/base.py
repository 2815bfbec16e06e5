"""The blobs port's rules (the interface is :class:`pilothouse.ports.Blobs`): a small object store.

Every adapter (in-memory, local directory, S3; Azure Blob and GCS later) honours the same rules:

* A key is a ``/``-separated path of 1 to 1024 UTF-8 bytes: no leading or trailing ``/``, no
  empty, ``.`` or ``..`` segment, no backslash and no control character. ``a`` and ``a/b`` may
  both exist (keys are names, not directories).
* ``put`` replaces the whole object (data, content type, metadata) and returns its :class:`BlobInfo`.
* ``etag`` is an opaque string that changes when the content changes (S3 only promises an MD5 for
  unencrypted or SSE-S3 objects; do not compute it yourself).
* Metadata names are lower-case letters, digits, ``-`` and ``_`` (S3 lower-cases them); names and
  values are printable ASCII, 2 KiB in all.
* ``list`` returns keys in UTF-8 byte order, at most ``limit`` (1 to 1000) per page, and a cursor
  for the next page (``None`` on the last one). Listed :class:`BlobInfo` are summaries:
  ``content_type`` and ``metadata`` are ``None`` there (``head`` has them).
* ``get``/``head`` of a missing key raise :class:`BlobNotFound`; ``delete`` of one does nothing.
"""

from __future__ import annotations

import re

from pilothouse.ports import (
    DEFAULT_CONTENT_TYPE,
    BlobError,
    BlobInfo,
    BlobNotFound,
    Blobs,
    InvalidBlobArgument,
    InvalidKey,
)

# The interface, its values and errors are the port's (pilothouse.ports); re-exported for the adapters.
__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "BlobError",
    "BlobInfo",
    "BlobNotFound",
    "Blobs",
    "InvalidBlobArgument",
    "InvalidKey",
]

MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
MAX_LIST_LIMIT = 1000

_METADATA_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


# -- checks shared by the adapters ---------------------------------------------------------------


def check_key(key: str) -> str:
    """Return ``key`` if valid, else raise :class:`InvalidKey` saying why."""
    if not isinstance(key, str) or not key:
        raise InvalidKey(f"a blob key must be a non-empty str, got {key!r}")
    if len(key.encode("utf-8", errors="surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidKey(f"blob key is longer than {MAX_KEY_BYTES} UTF-8 bytes: {key[:40]!r}...")
    if key.startswith("/") or key.endswith("/"):
        raise InvalidKey(f"blob key {key!r} must not start or end with '/'")
    if "\\" in key or any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise InvalidKey(f"blob key {key!r} must not contain a backslash or control characters")
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKey(f"blob key {key!r} is not valid Unicode text") from None
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"blob key {key!r} must not have empty, '.' or '..' segments")
    return key


def check_prefix(prefix: str) -> str:
    """A list prefix: '' or text without a leading '/' (it need not be a whole key)."""
    if not isinstance(prefix, str) or prefix.startswith("/"):
        raise InvalidKey(f"a list prefix must be a str without a leading '/', got {prefix!r}")
    return prefix


def check_put(data: bytes, content_type: str, metadata: dict[str, str] | None) -> dict[str, str]:
    """Validate what ``put`` stores besides the key; return the metadata as a new dict."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidBlobArgument(f"blob data must be bytes, got {type(data).__name__}")
    if not isinstance(content_type, str) or not content_type or not content_type.isascii():
        raise InvalidBlobArgument(f"content_type must be a non-empty ASCII str, got {content_type!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in content_type):
        raise InvalidBlobArgument(f"content_type {content_type!r} contains control characters")
    metadata = dict(metadata or {})
    size = 0
    for name, value in metadata.items():
        if not isinstance(name, str) or not _METADATA_NAME.match(name):
            raise InvalidBlobArgument(
                f"metadata name {name!r} must be lower-case letters, digits, '-' and '_'"
            )
        if not isinstance(value, str) or not all(0x20 <= ord(c) < 0x7F for c in value):
            raise InvalidBlobArgument(f"metadata {name!r}: the value must be printable ASCII, got {value!r}")
        size += len(name) + len(value)
    if size > MAX_METADATA_BYTES:
        raise InvalidBlobArgument(f"metadata is {size} bytes; the limit is {MAX_METADATA_BYTES}")
    return metadata


def check_list(limit: int, cursor: str | None) -> None:
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidBlobArgument(f"limit must be 1..{MAX_LIST_LIMIT}, got {limit!r}")
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        raise InvalidBlobArgument(f"cursor must be a non-empty str or None, got {cursor!r}")


def utf8_order(key: str) -> bytes:
    """The sort key S3 lists in (UTF-8 byte order)."""
    return key.encode("utf-8")
