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
from typing import Any, AnyStr

from pydantic import ValidationError

from pilothouse.crypto.envelope import EnvelopeError, StreamOpener
from pilothouse.domain import backups as dom
from pilothouse.domain.backups import BackupRefused, ChunkEntry, Manifest
from pilothouse.jsonbounds import loads
from pilothouse.ports import BlobNotFound, EncodedItem, Item
from pilothouse.ports.store import encode_document
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


def check_chunks(
    ctx: ServiceContext, opened: OpenedBackup, *, progress: Callable[[dict[str, Any]], None] | None = None
) -> None:
    """Check every chunk's size and SHA-256 against the authenticated manifest (the manifest's HMAC
    covers the hashes, so a match proves the chunk is the one written); BackupRefused on the first
    that differs. What a restore runs before it writes anything: cheaper than :func:`verify`,
    which also opens and parses every item."""
    done = 0
    for entry in opened.manifest.chunks:
        _fetch(ctx, opened, entry)
        done += entry.bytes
        if progress:
            progress(
                {
                    "phase": "check",
                    "items": 0,
                    "bytes": done,
                    "chunks": entry.index + 1,
                    "bytes_total": opened.manifest.bytes,
                }
            )


def _fetch(ctx: ServiceContext, opened: OpenedBackup, entry: ChunkEntry) -> bytes:
    """A chunk's sealed bytes, checked against its entry's size and SHA-256."""
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
    return sealed


def read_chunk(ctx: ServiceContext, opened: OpenedBackup, entry: ChunkEntry) -> list[bytes]:
    """The JSON lines of one chunk, after checking its size, SHA-256, seal and content."""
    return _lines(opened.id, entry, _open_chunk(ctx, opened, entry))


def _open_chunk(ctx: ServiceContext, opened: OpenedBackup, entry: ChunkEntry) -> bytes:
    """A chunk's JSON Lines, after checking its size, SHA-256, seal and decompressed size."""
    backup_id, index = opened.id, entry.index
    sealed = _fetch(ctx, opened, entry)
    try:
        packed = opened.opener.open_part(index, sealed)
        raw = _gunzip(packed)
    except (EnvelopeError, OSError, EOFError, zlib.error) as exc:
        raise BackupRefused(f"backup {backup_id}: chunk {index} does not open: {exc}") from exc
    if len(raw) != entry.raw_bytes:
        raise BackupRefused(
            f"backup {backup_id}: chunk {index} holds {len(raw)} bytes, not {entry.raw_bytes}"
        )
    return raw


def _lines(backup_id: str, entry: ChunkEntry, raw: AnyStr) -> list[AnyStr]:
    """The lines of a chunk's content (bytes or text), their number checked against its entry."""
    # "\n" only (str.splitlines would also cut at U+2028 and the like, which JSON text may hold)
    lines: list[Any] = raw.split("\n") if isinstance(raw, str) else raw.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    if len(lines) != entry.items and not (entry.items == 0 and len(lines) <= 1 and not any(lines)):
        raise BackupRefused(
            f"backup {backup_id}: chunk {entry.index} holds {len(lines)} items, not {entry.items}"
        )
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


#: where a line's document starts: ``item_line`` writes ``pk``, ``sk``, ``v`` and ``e`` (strings
#: and numbers) before ``"d"``, and inside a JSON string every ``"`` is escaped, so the first
#: occurrence is the document's key
_DOCUMENT = ',"d":{'
_HEAD_KEYS = ({"pk", "sk", "v"}, {"pk", "sk", "v", "e"})


def encoded_items(backup_id: str, entry: ChunkEntry, raw: bytes) -> list[EncodedItem]:
    """A chunk's items with their documents left as JSON text (what a restore writes).

    Only for a chunk that authenticated (AES-GCM under the backup's data key, its SHA-256 in the
    HMAC'd manifest): each line's head (``pk``, ``sk``, ``v``, ``e``) is parsed, the chunk's heads
    in one JSON document, and checked as :func:`parse_line` checks them; the documents are cut out
    as the writer wrote them (``json.dumps``), not parsed again. A chunk whose lines are not all of
    the writer's shape goes through :func:`parse_line`, which refuses what is not an item."""
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise BackupRefused(f"backup {backup_id}: chunk {entry.index} is not UTF-8") from exc
    lines = _lines(backup_id, entry, text)
    cuts = [line.find(_DOCUMENT) for line in lines]
    if any(c < 0 for c in cuts) or not all(line.endswith("}}") for line in lines):
        return [_encoded(parse_line(backup_id, line.encode())) for line in lines]
    try:
        heads = json.loads("[" + ",".join(line[:c] + "}" for line, c in zip(lines, cuts, strict=True)) + "]")
    except ValueError:
        return [_encoded(parse_line(backup_id, line.encode())) for line in lines]
    out = []
    for head, line, cut in zip(heads, lines, cuts, strict=True):
        pk, sk, version, expires = head.get("pk"), head.get("sk"), head.get("v"), head.get("e")
        if not (
            head.keys() in _HEAD_KEYS
            and isinstance(pk, str)
            and isinstance(sk, str)
            and type(version) is int
            and version >= 1
            and (expires is None or (isinstance(expires, int | float) and not isinstance(expires, bool)))
            and pk not in dom.BOOKKEEPING
        ):
            raise BackupRefused(f"backup {backup_id}: an item line is malformed")
        out.append(
            EncodedItem(pk, sk, version, float(expires) if expires is not None else None, line[cut + 5 : -1])
        )
    return out


def _encoded(item: Item) -> EncodedItem:
    return EncodedItem(item.pk, item.sk, item.version, item.expires_at, encode_document(item.data))


def encoded_chunks(
    ctx: ServiceContext, opened: OpenedBackup, *, start: int = 0
) -> Iterator[tuple[ChunkEntry, list[EncodedItem]]]:
    """:func:`chunks` with the documents left as JSON text (see :func:`encoded_items`)."""
    for entry in opened.manifest.chunks[start:]:
        yield entry, encoded_items(opened.id, entry, _open_chunk(ctx, opened, entry))


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
