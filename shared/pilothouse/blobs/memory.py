"""Blobs in a dict, for unit tests (semantics: see :mod:`.base`). Thread-safe; nothing persists."""

from __future__ import annotations

import hashlib
import threading

from pilothouse.blobs.base import (
    DEFAULT_CONTENT_TYPE,
    BlobInfo,
    BlobNotFound,
    check_key,
    check_list,
    check_prefix,
    check_put,
    utf8_order,
)
from pilothouse.clock import Clock, SystemClock


class MemoryBlobs:
    """Objects held in memory; ``modified`` comes from the injected clock."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._objects: dict[str, tuple[bytes, BlobInfo]] = {}
        self._lock = threading.Lock()

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
        info = BlobInfo(
            key=key,
            size=len(data),
            etag=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            modified=self._clock.time(),
            content_type=content_type,
            metadata=metadata,
        )
        with self._lock:
            self._objects[key] = (data, info)
        return self._copy(info)

    @staticmethod
    def _copy(info: BlobInfo) -> BlobInfo:
        return BlobInfo(
            info.key, info.size, info.etag, info.modified, info.content_type, dict(info.metadata or {})
        )

    def _find(self, key: str) -> tuple[bytes, BlobInfo]:
        check_key(key)
        with self._lock:
            found = self._objects.get(key)
        if found is None:
            raise BlobNotFound(key)
        return found

    def get(self, key: str) -> bytes:
        return self._find(key)[0]

    def head(self, key: str) -> BlobInfo:
        return self._copy(self._find(key)[1])

    def exists(self, key: str) -> bool:
        check_key(key)
        with self._lock:
            return key in self._objects

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def list(
        self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[BlobInfo], str | None]:
        check_prefix(prefix)
        check_list(limit, cursor)
        after = utf8_order(cursor) if cursor is not None else None
        with self._lock:
            infos = [info for key, (_, info) in self._objects.items() if key.startswith(prefix)]
        infos.sort(key=lambda i: utf8_order(i.key))
        if after is not None:
            infos = [i for i in infos if utf8_order(i.key) > after]
        page = [BlobInfo(i.key, i.size, i.etag, i.modified) for i in infos[:limit]]
        return page, (page[-1].key if len(infos) > limit else None)
