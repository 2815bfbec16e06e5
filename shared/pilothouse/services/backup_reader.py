"""Reading a backup back, checking everything before a caller sees a single item.

:func:`open_backup` refuses (:class:`~pilothouse.domain.backups.BackupRefused`), in this order: an
invalid id; a missing manifest (an incomplete backup); a manifest too large, not JSON, of another
format or an unknown ``format_version``; a malformed one; one filed under another id; one whose data
key does not unwrap with this control plane's master keys (a backup from another key); one whose
HMAC does not match (changed); chunk entries that do not follow our naming. :func:`read_chunk` then
refuses a chunk whose size or SHA-256 differs from the manifest (truncated, changed), that does not
authenticate, or whose content does not match its entry. :func:`verify` reads every chunk and
compares the per-kind counts and digests, so a restore that verifies first writes nothing from a
bad backup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from pilothouse.crypto.envelope import EnvelopeError, StreamOpener
from pilothouse.domain import backups as dom
from pilothouse.domain.backups import BackupRefused, ChunkEntry, Manifest
from pilothouse.jsonbounds import loads
from pilothouse.ports import BlobNotFound, Item
from pilothouse.services.context import ServiceContext

#: the largest a chunk may grow when decompressed (the writer's limit is far below)
MAX_RAW_CHUNK = 512 * 1024 * 1024


@dataclass
class OpenedBackup:
    manifest: Manifest
    opener: StreamOpener

    @property
    def id(self) -> str:
        return self.manifest.id


def open_backup(ctx: ServiceContext, backup_id: str) -> OpenedBackup:
    """The authenticated manifest of a complete backup (see the module documentation)."""
    dom.check_id(backup_id)
    try:
        raw = ctx.blobs.get(dom.manifest_key(backup_id))
    except BlobNotFound:
        if ctx.blobs.list(dom.folder(backup_id), limit=1)[0]:
            raise BackupRefused(
                f"backup {backup_id} is incomplete (no manifest): it cannot be restored"
            ) from None
        from pilothouse.errors import NotFound

        raise NotFound(f"no backup {backup_id!r}") from None
    if len(raw) > dom.MAX_MANIFEST_BYTES:
        raise BackupRefused(f"backup {backup_id}: the manifest is larger than any manifest we write")
    try:
        body = loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupRefused(f"backup {backup_id}: the manifest is not JSON") from exc
    if not isinstance(body, dict) or body.get("format") != dom.FORMAT:
        raise BackupRefused(f"backup {backup_id}: not a Pilothouse backup manifest")
    if body.get("format_version") != dom.FORMAT_VERSION:
        raise BackupRefused(
            f"backup {backup_id} has format version {body.get('format_version')!r}; this Pilothouse "
            f"reads version {dom.FORMAT_VERSION} only"
        )
    try:
        manifest = Manifest.model_validate(body)
    except ValidationError as exc:
        raise BackupRefused(
            f"backup {backup_id}: the manifest is malformed ({exc.error_count()} errors)"
        ) from exc
    if manifest.id != backup_id:
        raise BackupRefused(f"backup {backup_id}: the manifest is that of backup {manifest.id[:40]!r}")
    for position, chunk in enumerate(manifest.chunks):
        if chunk.index != position or chunk.key != dom.chunk_key(backup_id, position):
            raise BackupRefused(f"backup {backup_id}: chunk entry {position} does not name chunk {position}")
    if not manifest.chunks:
        raise BackupRefused(f"backup {backup_id}: the manifest lists no chunk")
    try:
        header = base64.b64decode(str(manifest.encryption.get("header")), validate=True)
        opener = StreamOpener(ctx.master_keys, header, aad=dom.chunk_aad(backup_id))
    except (ValueError, EnvelopeError) as exc:
        raise BackupRefused(
            f"backup {backup_id}: its data key does not unwrap with this control plane's master keys "
            f"(a backup taken under another key?): {exc}"
        ) from exc
    expected = hmac.new(opener.derive("manifest"), dom.mac_input(body), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, manifest.mac):
        raise BackupRefused(f"backup {backup_id}: the manifest was changed (its HMAC does not match)")
    return OpenedBackup(manifest, opener)


def read_chunk(ctx: ServiceContext, opened: OpenedBackup, entry: ChunkEntry) -> list[bytes]:
    """The JSON lines of one chunk, after checking its size, SHA-256, seal and content."""
    backup_id, index = opened.id, entry.index
    try:
        sealed = ctx.blobs.get(dom.chunk_key(backup_id, index))
    except BlobNotFound:
        raise BackupRefused(f"backup {backup_id}: chunk {index} is missing") from None
    if len(sealed) != entry.bytes:
        raise BackupRefused(
            f"backup {backup_id}: chunk {index} is {len(sealed)} bytes, the manifest says {entry.bytes} "
            "(truncated or replaced)"
        )
    if not hmac.compare_digest(hashlib.sha256(sealed).hexdigest(), entry.sha256):
        raise BackupRefused(f"backup {backup_id}: chunk {index} was changed (SHA-256 mismatch)")
    try:
        packed = opened.opener.open_part(index, sealed)
        raw = _gunzip(packed)
    except (EnvelopeError, OSError, EOFError, zlib.error) as exc:
        raise BackupRefused(f"backup {backup_id}: chunk {index} does not open: {exc}") from exc
    if len(raw) != entry.raw_bytes:
        raise BackupRefused(
            f"backup {backup_id}: chunk {index} holds {len(raw)} bytes, not {entry.raw_bytes}"
        )
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != entry.items and not (entry.items == 0 and lines == [b""]):
        raise BackupRefused(f"backup {backup_id}: chunk {index} holds {len(lines)} items, not {entry.items}")
    return [] if entry.items == 0 else lines


def _gunzip(packed: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    raw = d.decompress(packed, MAX_RAW_CHUNK)
    if d.unconsumed_tail or not d.eof:
        raise OSError("the chunk is not one complete gzip stream (or decompresses too large)")
    return raw


def parse_line(backup_id: str, line: bytes) -> Item:
    """One line as an Item; BackupRefused if it is not one of ours."""
    try:
        r = json.loads(line)
        pk, sk, version, data = r["pk"], r["sk"], r["v"], r["d"]
        expires = r.get("e")
        ok = (
            isinstance(pk, str)
            and isinstance(sk, str)
            and isinstance(version, int)
            and version >= 1
            and isinstance(data, dict)
            and (expires is None or isinstance(expires, int | float))
            and pk not in dom.BOOKKEEPING
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupRefused(f"backup {backup_id}: an item line is not JSON of an item") from exc
    if not ok:
        raise BackupRefused(f"backup {backup_id}: an item line is malformed")
    return Item(pk, sk, data, version, float(expires) if expires is not None else None)


def chunks(
    ctx: ServiceContext, opened: OpenedBackup, *, start: int = 0
) -> Iterator[tuple[ChunkEntry, list[Item]]]:
    """Each chunk's entry and items, from chunk ``start`` on (each checked as it is read)."""
    for entry in opened.manifest.chunks[start:]:
        lines = read_chunk(ctx, opened, entry)
        yield entry, [parse_line(opened.id, line) for line in lines]


def verify(
    ctx: ServiceContext, backup_id: str, *, progress: Callable[[dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Check every chunk against the manifest without restoring; BackupRefused on the first fault."""
    from pilothouse.services import backup_status

    opened = open_backup(ctx, backup_id)
    m = opened.manifest
    digests = dom.KindDigests()
    done_bytes = 0
    for entry in m.chunks:
        for line in read_chunk(ctx, opened, entry):
            item = parse_line(backup_id, line)
            digests.add(item.pk, line)
        done_bytes += entry.bytes
        if progress:
            progress(
                {
                    "phase": "verify",
                    "items": digests.total,
                    "bytes": done_bytes,
                    "chunks": entry.index + 1,
                    "items_total": m.items,
                    "bytes_total": m.bytes,
                }
            )
    if digests.counts != m.counts or digests.digests() != m.digests or digests.total != m.items:
        raise BackupRefused(f"backup {backup_id}: the items do not match the manifest's counts and digests")
    from pilothouse.clock import iso

    backup_status.mark(ctx, backup_id, verified_at=iso(ctx.clock.time()), verify_outcome="ok")
    return {
        "backup_id": backup_id,
        "ok": True,
        "items": m.items,
        "bytes": m.bytes,
        "chunks": len(m.chunks),
        "counts": m.counts,
    }
