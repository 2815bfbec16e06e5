"""Blobs as files under a directory, for local runs (semantics: see :mod:`.base`).

Layout: a key's segments become directories and a file, each segment percent-encoded (only
letters, digits and ``-._~`` stay as they are, so every key is a safe file name on any OS)::

    backups/2024-05-01/state.db  ->  <root>/backups/2024-05-01/state.db.blob   (the bytes)
                                     <root>/backups/2024-05-01/state.db.meta   (JSON: content type,
                                                                               metadata, etag)

A segment whose encoding would end in ``.blob`` or ``.meta`` has that dot encoded too (``%2E``),
so the key ``x`` (file ``x.blob``) and the key ``x.blob/y`` (directory ``x%2Eblob``) never
collide. Both files are written to a temporary file in the same directory (``.%tmp-*``, a name
no encoded segment can have), flushed to disk and renamed over the old one: a reader sees the
old or the new bytes, never a mix. The data is renamed before its metadata; ``head`` notices a
sidecar that does not match the data (a crash between the two renames) and falls back to
computing the etag. On a case-insensitive file system, keys differing only in case collide.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import threading
from pathlib import Path
from urllib.parse import quote, unquote

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

_DATA = ".blob"
_META = ".meta"
_TMP = ".%tmp-"


def _encode_segment(segment: str) -> str:
    encoded = quote(segment, safe="")
    if encoded.lower().endswith((_DATA, _META)):
        dot = encoded.rindex(".")
        encoded = encoded[:dot] + "%2E" + encoded[dot + 1 :]
    return encoded


class LocalBlobs:
    """Objects stored as files under ``root`` (created on first write)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()  # directory creation vs. removal of empty directories

    # -- paths -------------------------------------------------------------------------------------

    def _base(self, key: str) -> Path:
        """The path of a key's files, without their suffix."""
        return self.root.joinpath(*(_encode_segment(s) for s in check_key(key).split("/")))

    def _key_of(self, data_file: Path) -> str:
        parts = data_file.relative_to(self.root).parts
        leaf = parts[-1][: -len(_DATA)]
        return "/".join(unquote(p) for p in (*parts[:-1], leaf))

    @staticmethod
    def _with(base: Path, suffix: str) -> Path:
        return base.with_name(base.name + suffix)

    # -- files -------------------------------------------------------------------------------------

    @staticmethod
    def _write_atomically(path: Path, data: bytes) -> None:
        tmp = path.with_name(f"{_TMP}{secrets.token_hex(8)}")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise

    @staticmethod
    def _read_meta(base: Path) -> dict:
        try:
            return json.loads(LocalBlobs._with(base, _META).read_text("utf-8"))
        except (OSError, ValueError):
            return {}

    def _info(self, key: str, base: Path, *, full: bool) -> BlobInfo:
        data_file = self._with(base, _DATA)
        try:
            stat = data_file.stat()
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        meta = self._read_meta(base)
        etag = meta.get("etag")
        if meta.get("size") != stat.st_size or meta.get("mtime_ns") != stat.st_mtime_ns or not etag:
            # no sidecar, or one left from before the data was replaced: trust the data
            meta = {}
            etag = hashlib.md5(data_file.read_bytes(), usedforsecurity=False).hexdigest()
        if not full:
            return BlobInfo(key, stat.st_size, etag, stat.st_mtime)
        return BlobInfo(
            key=key,
            size=stat.st_size,
            etag=etag,
            modified=stat.st_mtime,
            content_type=meta.get("content_type", DEFAULT_CONTENT_TYPE),
            metadata=dict(meta.get("metadata", {})),
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
        base = self._base(key)
        metadata = check_put(data, content_type, metadata)
        data = bytes(data)
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        data_file = self._with(base, _DATA)
        with self._lock:
            base.parent.mkdir(parents=True, exist_ok=True)
            self._write_atomically(data_file, data)
            stat = data_file.stat()
            sidecar = {
                "content_type": content_type,
                "metadata": metadata,
                "etag": etag,
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
            self._write_atomically(self._with(base, _META), json.dumps(sidecar, sort_keys=True).encode())
        return BlobInfo(key, len(data), etag, stat.st_mtime, content_type, dict(metadata))

    def get(self, key: str) -> bytes:
        base = self._base(key)
        try:
            return self._with(base, _DATA).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None

    def head(self, key: str) -> BlobInfo:
        return self._info(key, self._base(key), full=True)

    def exists(self, key: str) -> bool:
        return self._with(self._base(key), _DATA).is_file()

    def delete(self, key: str) -> None:
        base = self._base(key)
        with self._lock:
            for suffix in (_DATA, _META):
                with contextlib.suppress(FileNotFoundError):
                    self._with(base, suffix).unlink()
            # Remove directories this left empty, up to (not including) the root.
            parent = base.parent
            while parent != self.root and self.root in parent.parents:
                try:
                    parent.rmdir()
                except OSError:
                    break
                parent = parent.parent

    def list(
        self, prefix: str = "", *, limit: int = 1000, cursor: str | None = None
    ) -> tuple[list[BlobInfo], str | None]:
        check_prefix(prefix)
        check_list(limit, cursor)
        keys: list[tuple[bytes, str, Path]] = []
        after = utf8_order(cursor) if cursor is not None else None
        for directory, _, files in os.walk(self.root):
            for name in files:
                if not name.endswith(_DATA) or name.startswith(_TMP):
                    continue
                data_file = Path(directory, name)
                key = self._key_of(data_file)
                order = utf8_order(key)
                if key.startswith(prefix) and (after is None or order > after):
                    keys.append((order, key, data_file))
        keys.sort()
        page: list[BlobInfo] = []
        for _, key, data_file in keys[:limit]:
            try:
                page.append(self._info(key, data_file.with_name(data_file.name[: -len(_DATA)]), full=False))
            except BlobNotFound:
                continue  # deleted while listing
        return page, (keys[limit - 1][1] if len(keys) > limit else None)
