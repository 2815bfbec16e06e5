"""Taking, listing and deleting backups (DESIGN §10, issue 12).

A backup is a full logical export through the storage port: :meth:`Store.scan` streams every
partition (SQLite: one read transaction over a WAL snapshot; DynamoDB: a consistent paginated scan,
see the adapter), items become JSON Lines, and every ``settings.backup_chunk_bytes`` of them one
gzip chunk, sealed (AES-256-GCM under the backup's data key, wrapped by ``ctx.master_keys``) and
put on the blobs port. Only one chunk is ever in memory. The manifest comes last, authenticated by
an HMAC under a sub-key of the same data key: a process killed before it leaves chunks and no
manifest, a backup nobody offers (the sweep removes such leftovers after a day).

On S3 the bucket adds SSE-KMS at rest (``settings.kms_key_id``); the envelope applies everywhere,
so a backup copied out of its bucket stays sealed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring
from typing import Any

from pilothouse import __version__
from pilothouse.clock import iso
from pilothouse.crypto.envelope import StreamSealer
from pilothouse.domain import backups as dom
from pilothouse.errors import NotFound
from pilothouse.ports import BlobNotFound, EncodedItem
from pilothouse.services.context import ServiceContext

#: called with {"phase", "items", "bytes", "chunks"} as the work goes on
Progress = Callable[[dict[str, Any]], None]

CHUNK_CONTENT_TYPE = "application/vnd.pilothouse.backup-chunk"
MANIFEST_CONTENT_TYPE = "application/json"
#: gzip level: on JSON records 3 takes 0.4x the CPU of 6 for ~23% more bytes (15 instead of 12 per
#: record in the benchmark; decompression costs the same), and 6 half the time of 9 for ~2% fewer
GZIP_LEVEL = 3
#: where a store's native export lands (``exports/<backup id>``, deleted once read)
EXPORT_PREFIX = "exports/"
#: an incomplete backup (chunks, no manifest) younger than this may still be being written
INCOMPLETE_GRACE_SECONDS = 86_400


def item_line(pk: str, sk: str, version: int, expires_at: float | None, data: dict[str, Any]) -> bytes:
    """One item as a JSON line (the chunk format; ``e`` is absent when the item never expires)."""
    record: dict[str, Any] = {"pk": pk, "sk": sk, "v": version}
    if expires_at is not None:
        # one spelling whatever the store gave back (SQLite REAL 5.0, DynamoDB/memory 5)
        record["e"] = int(expires_at) if float(expires_at).is_integer() else expires_at
    record["d"] = data
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def encoded_line(item: EncodedItem) -> bytes:
    """:func:`item_line` of an item whose document is already JSON text, byte for byte the same
    line (the backup's hot loop: no document is decoded or encoded again)."""
    expires = item.expires_at
    if expires is None:
        middle = ""
    elif float(expires).is_integer():
        middle = f',"e":{int(expires)}'
    elif math.isfinite(expires):
        middle = f',"e":{float(expires)!r}'
    else:  # not a time any store keeps; spelled as json.dumps would
        middle = ',"e":' + json.dumps(expires)
    return (
        f'{{"pk":{encode_basestring(item.pk)},"sk":{encode_basestring(item.sk)},'
        f'"v":{int(item.version)}{middle},"d":{item.data}}}'
    ).encode()


def at_rest(ctx: ServiceContext) -> str:
    """How the blobs are protected at rest, besides the envelope."""
    s = ctx.settings
    if s.blobs == "s3":
        return f"s3 SSE-KMS ({s.kms_key_id})" if s.kms_key_id else "s3 SSE-S3 (AES256)"
    return f"{s.blobs} blobs"


def create(
    ctx: ServiceContext, *, trigger: str = "manual", progress: Progress | None = None
) -> dict[str, Any]:
    """Take a full backup now; answer its summary (:func:`summary` of the manifest)."""
    started = ctx.clock.time()
    backup_id = dom.new_id(started)
    sealer = StreamSealer(ctx.master_keys, aad=dom.chunk_aad(backup_id))
    digests = dom.KindDigests()
    chunks: list[dict[str, Any]] = []
    lines: list[bytes] = []
    pending = 0
    limit = ctx.settings.backup_chunk_bytes
    totals = {"bytes": 0, "raw_bytes": 0}

    def flush() -> None:
        nonlocal lines, pending
        index = len(chunks)
        raw = b"\n".join(lines) + b"\n"
        sealed = sealer.seal_part(index, gzip.compress(raw, compresslevel=GZIP_LEVEL, mtime=0))
        key = dom.chunk_key(backup_id, index)
        ctx.blobs.put(
            key, sealed, content_type=CHUNK_CONTENT_TYPE, metadata={"backup": backup_id, "chunk": str(index)}
        )
        chunks.append(
            {
                "index": index,
                "key": key,
                "items": len(lines),
                "bytes": len(sealed),
                "sha256": hashlib.sha256(sealed).hexdigest(),
                "raw_bytes": len(raw),
            }
        )
        totals["bytes"] += len(sealed)
        totals["raw_bytes"] += len(raw)
        lines, pending = [], 0
        if progress:
            progress(
                {"phase": "backup", "items": digests.total, "bytes": totals["bytes"], "chunks": len(chunks)}
            )

    scan, consistency = _source(ctx, backup_id)
    try:
        for item in scan:
            if item.pk in dom.BOOKKEEPING:
                continue
            line = encoded_line(item)
            digests.add(item.pk, line)
            lines.append(line)
            pending += len(line) + 1
            if pending >= limit:
                flush()
    finally:
        close = getattr(scan, "close", None)
        if close:
            close()
    if lines or not chunks:
        flush()  # an empty store still gets one (empty) chunk: every backup has at least one
    body: dict[str, Any] = {
        "format": dom.FORMAT,
        "format_version": dom.FORMAT_VERSION,
        "id": backup_id,
        "created_at": iso(started),
        "completed_at": iso(ctx.clock.time()),
        "trigger": trigger,
        "pilothouse_version": __version__,
        "store": ctx.settings.store,
        "consistency": consistency,
        "at_rest": at_rest(ctx),
        "encryption": {
            "scheme": "AES-256-GCM envelope, one data key per backup",
            "key_id": sealer.wrapped.key_id,
            "header": base64.b64encode(sealer.header).decode(),
        },
        "items": digests.total,
        "counts": dict(sorted(digests.counts.items())),
        "digests": digests.digests(),
        "bytes": totals["bytes"],
        "raw_bytes": totals["raw_bytes"],
        "chunks": chunks,
    }
    body["mac"] = hmac.new(sealer.derive("manifest"), dom.mac_input(body), hashlib.sha256).hexdigest()
    ctx.blobs.put(
        dom.manifest_key(backup_id),
        json.dumps(body, separators=(",", ":")).encode(),
        content_type=MANIFEST_CONTENT_TYPE,
        metadata={"backup": backup_id, "items": str(digests.total)},
    )
    return summary(body)


def _source(ctx: ServiceContext, backup_id: str) -> tuple[Any, str]:
    """Where a backup reads the store from, and how consistent that copy is: the store's native
    point-in-time export when it has one and ``backup_dynamodb_export`` asks for it, else a scan."""
    from pilothouse.ports.store import PointInTimeExport

    store = ctx.store
    if ctx.settings.backup_dynamodb_export and isinstance(store, PointInTimeExport):
        exported = store.export_point_in_time(
            bucket=ctx.settings.bucket_name,
            prefix=f"{EXPORT_PREFIX}{backup_id}",
            kms_key_id=ctx.settings.kms_key_id,
            token=backup_id,
        )
        return exported, exported.consistency
    return store.scan_encoded(page_size=1000), store.scan_consistency


def summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """What callers see of a manifest: no key material, no MAC, chunk count instead of the list."""
    keep = (
        "id",
        "created_at",
        "completed_at",
        "trigger",
        "pilothouse_version",
        "store",
        "consistency",
        "at_rest",
        "items",
        "counts",
        "bytes",
        "raw_bytes",
        "format_version",
    )
    out = {k: manifest[k] for k in keep if k in manifest}
    out["key_id"] = (manifest.get("encryption") or {}).get("key_id")
    out["chunks"] = len(manifest.get("chunks") or [])
    raw, stored = manifest.get("raw_bytes") or 0, manifest.get("bytes") or 0
    out["compression_ratio"] = round(raw / stored, 2) if stored else None
    return out


def _manifest_json(ctx: ServiceContext, backup_id: str) -> dict[str, Any]:
    """The manifest as stored, unauthenticated (listing only: restore and verify authenticate)."""
    from pilothouse.jsonbounds import loads

    raw = ctx.blobs.get(dom.manifest_key(backup_id))
    if len(raw) > dom.MAX_MANIFEST_BYTES:
        raise dom.BackupRefused(f"backup {backup_id}: the manifest is larger than any manifest we write")
    body = loads(raw)
    if not isinstance(body, dict):
        raise dom.BackupRefused(f"backup {backup_id}: the manifest is not a JSON object")
    return body


def backup_ids(ctx: ServiceContext) -> tuple[list[str], list[str]]:
    """(complete ids, incomplete ids), newest first: a backup is complete when its manifest exists."""
    complete: set[str] = set()
    seen: set[str] = set()
    cursor: str | None = None
    while True:
        infos, cursor = ctx.blobs.list(dom.PREFIX, limit=1000, cursor=cursor)
        for info in infos:
            backup_id = dom.id_of_key(info.key)
            if backup_id is None:
                continue
            seen.add(backup_id)
            if info.key == dom.manifest_key(backup_id):
                complete.add(backup_id)
        if not cursor:
            break
    newest_first = sorted(seen, reverse=True)
    return [b for b in newest_first if b in complete], [b for b in newest_first if b not in complete]


def list_backups(ctx: ServiceContext, *, limit: int = 100) -> dict[str, Any]:
    """The complete backups, newest first (with their verification status), and how many are not."""
    from pilothouse.services import backup_status

    complete, incomplete = backup_ids(ctx)
    items = []
    for backup_id in complete[:limit]:
        try:
            entry = summary(_manifest_json(ctx, backup_id))
        except (dom.BackupRefused, ValueError, BlobNotFound):
            entry = {"id": backup_id, "unreadable": True}
        entry.update(backup_status.of(ctx, backup_id))
        items.append(entry)
    return {"items": items, "total": len(complete), "incomplete": incomplete}


def get(ctx: ServiceContext, backup_id: str) -> dict[str, Any]:
    """One complete backup's summary with its per-chunk listing; NotFound if none is complete."""
    from pilothouse.services import backup_status

    backup_id = resolve(ctx, backup_id)
    try:
        body = _manifest_json(ctx, backup_id)
    except BlobNotFound:
        raise NotFound(f"no complete backup {backup_id!r}") from None
    out = summary(body)
    out["digests"] = body.get("digests")
    out["chunk_list"] = [
        {k: c.get(k) for k in ("index", "items", "bytes", "raw_bytes", "sha256")}
        for c in body.get("chunks") or []
    ]
    out.update(backup_status.of(ctx, backup_id))
    return out


def resolve(ctx: ServiceContext, backup_id: str) -> str:
    """``backup_id`` checked, with ``latest`` standing for the newest complete backup (NotFound if none)."""
    return newest(ctx) if backup_id == "latest" else dom.check_id(backup_id)


def newest(ctx: ServiceContext) -> str:
    """The id of the newest complete backup; NotFound when there is none."""
    complete, _ = backup_ids(ctx)
    if not complete:
        raise NotFound("there is no complete backup yet")
    return complete[0]


def delete(ctx: ServiceContext, backup_id: str) -> dict[str, Any]:
    """Remove a backup's objects, manifest first (so a half-deleted backup is never offered)."""
    from pilothouse.services import backup_status

    backup_id = resolve(ctx, backup_id)
    keys: list[str] = []
    cursor: str | None = None
    while True:
        infos, cursor = ctx.blobs.list(dom.folder(backup_id), limit=1000, cursor=cursor)
        keys.extend(i.key for i in infos)
        if not cursor:
            break
    if not keys:
        raise NotFound(f"no backup {backup_id!r}")
    manifest = dom.manifest_key(backup_id)
    for key in sorted(keys, key=lambda k: k != manifest):
        ctx.blobs.delete(key)
    backup_status.forget(ctx, backup_id)
    return {"id": backup_id, "deleted_objects": len(keys)}
