"""Restoring a backup into a store: verified first, written in batches, resumable after a crash.

1. The manifest is authenticated (its HMAC, under the backup's data key: a foreign-key or
   unknown-format backup is refused) and every chunk's size and SHA-256 checked against it
   (:func:`~pilothouse.services.backup_reader.check_chunks`): a changed, truncated or missing
   chunk is refused before anything is written. Each chunk is then opened (AES-GCM) and its item
   count checked as it is loaded.
2. The target must be *empty* (no partition but the kept ones, :data:`KEPT`) unless ``force``.
   A restore marker (``BACKUPRESTORE/current``) is written first: it names the backup, the phase
   and how many chunks are in. Two restores racing meet on its conditional writes; one gets 409.
3. ``force`` first clears the target (every partition but :data:`KEPT`), phase ``clearing``.
4. Each chunk's items are written with ``Store.load`` (versions as in the backup, replacing,
   ``BATCH`` at a time), then the marker records the chunk as done.
5. The marker is removed; the providers reconcile (:func:`reconcile`).

Killed at any point, the same restore again finds the marker, skips the chunks already in (a chunk
half in is written again: ``load`` replaces, so that is harmless) and ends with the full backup.

Kept partitions: API keys (so the caller keeps access; the backup's keys are added), the audit trail
(its chained day partitions and heads too: history is appended to, never rewritten) and
idempotency records, plus the backups' bookkeeping.
A kept record already in the store is never overwritten by the backup's copy (a key revoked after
the backup stays revoked).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain import backups as dom
from pilothouse.errors import AlreadyExists, Conflict, VersionConflict
from pilothouse.ports import Delete, EncodedItem, Item, Store
from pilothouse.repositories.backups import BackupRepository
from pilothouse.services import backup_reader
from pilothouse.services.context import ServiceContext

#: items written per ``Store.load_encoded`` call (one SQLite transaction; DynamoDB batches of 25)
BATCH = 2000
KEPT = dom.BOOKKEEPING | {"APIKEY", "AUDIT", "AUDIT-ANON", "AUDIT-HEAD", "AUDIT-DAYS", "IDEMPOTENCY"}
#: partitions kept by prefix: the audit chain's day partitions (``AUDIT#<YYYY-MM-DD>``)
KEPT_PREFIXES = ("AUDIT#",)


def is_kept(pk: str) -> bool:
    """Whether partition ``pk`` is kept by a restore (:data:`KEPT`, :data:`KEPT_PREFIXES`)."""
    return pk in KEPT or pk.startswith(KEPT_PREFIXES)


def is_empty(store: Store) -> bool:
    """Whether ``store`` holds nothing a restore would replace (only :data:`KEPT` partitions)."""
    scan = store.scan(page_size=200)
    try:
        return not any(not is_kept(item.pk) for item in scan)
    finally:
        close = getattr(scan, "close", None)
        if close:
            close()


def clear(store: Store, *, progress: Callable[[int], None] | None = None) -> int:
    """Delete every item outside :data:`KEPT`, up to 25 of one partition to a transaction (every
    store commits that); answer how many."""
    doomed: list[Delete] = []
    removed = 0
    scan = store.scan(page_size=1000)
    try:
        for item in scan:
            if is_kept(item.pk):
                continue
            if doomed and doomed[0].pk != item.pk:
                store.transact(doomed)
                removed += len(doomed)
                doomed = []
            doomed.append(Delete(item.pk, item.sk))
            if len(doomed) == 25:
                store.transact(doomed)
                removed += len(doomed)
                doomed = []
                if progress and removed % 5000 == 0:
                    progress(removed)
    finally:
        close = getattr(scan, "close", None)
        if close:
            close()
    if doomed:
        store.transact(doomed)
        removed += len(doomed)
    return removed


def restore(
    ctx: ServiceContext,
    backup_id: str,
    *,
    force: bool = False,
    store: Store | None = None,
    reconcile_providers: bool = True,
    migrate_layout: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Restore backup ``backup_id`` into ``store`` (the control plane's own by default).
    ``migrate_layout``: bring a backup of an older store layout to this release's afterwards
    (:mod:`pilothouse.services.migrations`; a no-op for a backup of the current layout)."""
    target = store if store is not None else ctx.store
    began = time.monotonic()
    opened = backup_reader.open_backup(ctx, backup_id)
    backup_reader.check_chunks(ctx, opened, progress=progress)
    m = opened.manifest
    repo = BackupRepository(ctx.store)
    now = iso(ctx.clock.time())
    marker = repo.restore_marker(target)
    resumed = marker is not None and marker.data.get("backup_id") == backup_id
    if marker is not None and not resumed and not force:
        raise Conflict(
            f"a restore of backup {marker.data.get('backup_id')} is unfinished in this store: run that "
            "restore again to finish it, or restore with force to replace the store",
            extra={"field": "force"},
        )
    if not resumed:
        if not force and not is_empty(target):
            raise Conflict(
                "the store is not empty: restore with force to replace its contents with the backup",
                extra={"field": "force"},
            )
        data = {
            "backup_id": backup_id,
            "phase": "clearing" if force else "loading",
            "force": force,
            "chunks_done": 0,
            "items_done": 0,
            "started_at": now,
            "updated_at": now,
        }
        try:
            marker = repo.put_restore_marker(target, data, previous=marker)
        except (AlreadyExists, VersionConflict) as exc:
            raise Conflict("another restore started in this store at the same moment") from exc
    assert marker is not None
    cleared = 0
    if marker.data["phase"] == "clearing":
        cleared = clear(target)
        marker = _advance(ctx, repo, target, marker, phase="loading")
    start = int(marker.data["chunks_done"])
    items_done = int(marker.data["items_done"])
    bytes_done = sum(c.bytes for c in m.chunks[:start])
    kept = _KeptRecords(target)
    for entry, items in backup_reader.encoded_chunks(ctx, opened, start=start):
        fresh = kept.without_present(items)
        for i in range(0, len(fresh), BATCH):
            target.load_encoded(fresh[i : i + BATCH])
        items_done += len(items)
        bytes_done += entry.bytes
        marker = _advance(ctx, repo, target, marker, chunks_done=entry.index + 1, items_done=items_done)
        if progress:
            progress(
                {
                    "phase": "restore",
                    "items": items_done,
                    "bytes": bytes_done,
                    "chunks": entry.index + 1,
                    "items_total": m.items,
                    "bytes_total": m.bytes,
                }
            )
    try:
        repo.drop_restore_marker(target, marker)
    except VersionConflict as exc:
        raise Conflict("another restore of this backup moved the marker: it finishes the job") from exc
    result: dict[str, Any] = {
        "backup_id": backup_id,
        "items": m.items,
        "chunks": len(m.chunks),
        "bytes": m.bytes,
        "counts": m.counts,
        "resumed_from_chunk": start if resumed else None,
        "cleared": cleared,
        "verified": True,
        "seconds": round(time.monotonic() - began, 3),
    }
    if migrate_layout:  # a backup taken before a layout change restores in its own layout
        from pilothouse.services.migrations import ensure_current

        migrated = ensure_current(target)
        if migrated is not None and migrated["from"] != migrated["to"]:
            result["migrated"] = migrated
    if reconcile_providers and target is ctx.store:
        result["reconciled"] = reconcile(ctx)
    return result


class _KeptRecords:
    """Which items of a :data:`KEPT` partition a restore may write: those not in the store already
    (the store's own API key, audit and idempotency records win: a key revoked after the backup
    stays revoked). A kept partition this restore found empty is written whole without a look per
    item (an audit trail is a large share of a store); in one that was not, each item is looked up."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._ours: set[str] = set()
        self._theirs: set[str] = set()
        self._kept: dict[str, bool] = {}  # is_kept by partition (a chunk meets few partitions)

    def without_present(self, items: list[EncodedItem]) -> list[EncodedItem]:
        kept = self._kept
        if len(kept) > 100_000:
            kept.clear()
        out = []
        for item in items:
            pk = item.pk
            flag = kept.get(pk)
            if flag is None:
                flag = kept[pk] = is_kept(pk)
            if not flag or self._absent(item):
                out.append(item)
        return out

    def _absent(self, item: EncodedItem) -> bool:
        pk = item.pk
        if pk in self._ours:
            return True
        if pk not in self._theirs:
            if not self.store.query(pk, limit=1).items:
                self._ours.add(pk)
                return True
            self._theirs.add(pk)
        return self.store.get(pk, item.sk) is None


def _advance(ctx: ServiceContext, repo: BackupRepository, store: Store, marker: Item, **changes: Any) -> Item:
    data = {**marker.data, **changes, "updated_at": iso(ctx.clock.time())}
    try:
        return repo.put_restore_marker(store, data, previous=marker)
    except VersionConflict as exc:
        raise Conflict(
            "another restore of this backup is writing the same store: it finishes the job"
        ) from exc


def reconcile(ctx: ServiceContext) -> dict[str, str]:
    """After a restore: the providers take back what the restored records say runs. Local processes
    that still run are adopted, missing ones started (or the component reported Failed); commands
    that were under way are resumed (:mod:`pilothouse.services.jobs`)."""
    from pilothouse.services.jobs import mark_restoring, restore_placements, resume_operations

    marked = mark_restoring(ctx)
    outcome = dict(restore_placements(ctx, names=marked))
    for name in resume_operations(ctx):
        outcome.setdefault(name, "resumed")
    return outcome
