"""The backups' bookkeeping in the store (the backups themselves are blobs, see
:mod:`pilothouse.domain.backups`). None of these partitions is ever in a backup.

===================  =======================================  =========================================
partition            sort key                                 what
===================  =======================================  =========================================
``BACKUPRUN``         ``<epoch ms, 15 digits>-<hex>``          a backup run (create, verify, restore, drill)
``BACKUPRESTORE``    ``current``                              an unfinished restore (resumed by a re-run)
``BACKUPSTATUS``     ``<backup id>``                          a backup's last verification and drill
``BACKUPEVENTS``     ``<epoch µs, 17 digits>#<hex>``          events: drills (RPO, RTO), failures, RPO
``BACKUPSETUP``      ``<step>``                               a setup step done once (default alert rules)
===================  =======================================  =========================================
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

from pilothouse.domain.records import stored
from pilothouse.ports import Item, Store

RUNS = "BACKUPRUN"
RESTORE = "BACKUPRESTORE"
STATUS = "BACKUPSTATUS"
EVENTS = "BACKUPEVENTS"
SETUP = "BACKUPSETUP"
RESTORE_SK = "current"
#: events are kept a year
EVENT_TTL_SECONDS = 365 * 86_400


def run_id(now: float) -> str:
    return f"{int(now * 1000):015d}-{secrets.token_hex(4)}"


class BackupRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- operations ------------------------------------------------------------------------------

    def get_run(self, rid: str) -> Item | None:
        return self.store.get(RUNS, rid)

    def create_run(self, data: dict[str, Any]) -> Item:
        return self.store.put(Item(RUNS, data["id"], stored("BackupRunRecord", data)), if_absent=True)

    def replace_run(self, item: Item, data: dict[str, Any]) -> Item:
        """Replace if unchanged since read (VersionConflict otherwise)."""
        return self.store.put(Item(RUNS, item.sk, stored("BackupRunRecord", data)), if_version=item.version)

    def runs(self, *, limit: int) -> list[Item]:
        return self.store.query(RUNS, limit=limit, reverse=True).items

    # -- the restore marker ----------------------------------------------------------------------

    def restore_marker(self, store: Store | None = None) -> Item | None:
        return (store or self.store).get(RESTORE, RESTORE_SK)

    def put_restore_marker(self, store: Store, data: dict[str, Any], *, previous: Item | None) -> Item:
        """Create the marker (AlreadyExists if another restore made one) or advance it
        (VersionConflict if another restore moved it since ``previous`` was read)."""
        item = Item(RESTORE, RESTORE_SK, stored("RestoreMarkerRecord", data))
        if previous is None:
            return store.put(item, if_absent=True)
        return store.put(item, if_version=previous.version)

    def drop_restore_marker(self, store: Store, marker: Item) -> None:
        store.delete(RESTORE, RESTORE_SK, if_version=marker.version)

    # -- status and events -----------------------------------------------------------------------

    def status(self, backup_id: str) -> dict[str, Any] | None:
        item = self.store.get(STATUS, backup_id)
        return item.data if item else None

    def statuses(self) -> dict[str, dict[str, Any]]:
        return {i.sk: i.data for i in self.store.scan_all(STATUS)}

    def mark(self, backup_id: str, changes: dict[str, Any]) -> None:
        """Merge ``changes`` into the backup's status (last writer wins per field; retried on a race)."""
        from pilothouse.errors import AlreadyExists, VersionConflict

        for _ in range(5):
            current = self.store.get(STATUS, backup_id)
            data = {**(current.data if current else {"backup_id": backup_id}), **changes}
            item = Item(STATUS, backup_id, stored("BackupStatusRecord", data))
            try:
                if current is None:
                    self.store.put(item, if_absent=True)
                else:
                    self.store.put(item, if_version=current.version)
                return
            except (AlreadyExists, VersionConflict):
                continue

    def forget(self, backup_id: str) -> None:
        self.store.delete(STATUS, backup_id)

    def setup_done(self, step: str) -> bool:
        return self.store.get(SETUP, step) is not None

    def mark_setup(self, step: str, detail: dict[str, Any]) -> None:
        """Record a setup step as done (the first record stays)."""
        from pilothouse.errors import AlreadyExists

        with contextlib.suppress(AlreadyExists):
            self.store.put(
                Item(SETUP, step, stored("BackupSetupRecord", {"step": step, **detail})), if_absent=True
            )

    def append_event(self, now: float, data: dict[str, Any]) -> dict[str, Any]:
        sk = f"{int(now * 1_000_000):017d}#{secrets.token_hex(4)}"
        self.store.put(
            Item(EVENTS, sk, stored("BackupEventRecord", data), expires_at=now + EVENT_TTL_SECONDS),
            if_absent=True,
        )
        return {"id": sk, **data}

    def events(self, *, limit: int) -> list[dict[str, Any]]:
        return [{"id": i.sk, **i.data} for i in self.store.query(EVENTS, limit=limit, reverse=True).items]
