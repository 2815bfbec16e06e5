"""Backups, in pure terms: ids, blob keys, the manifest, per-kind digests and retention.

A backup ``20261202T030000Z-a1b2c3`` is a set of blobs under ``backups/<id>/``::

    backups/<id>/chunk-000000.jsonl.gz.sealed   gzip JSON Lines (one item a line), sealed
    backups/<id>/chunk-000001.jsonl.gz.sealed   (each chunk holds at most ``chunk_bytes`` of JSON)
    backups/<id>/manifest.json                  written last: without it the backup is incomplete

Chunk keys are computed from the id and the chunk's index, never read from a manifest, so a
manifest cannot point a restore at another object. Ids are generated (UTC time then 6 hex digits,
so they sort by age) and checked against :data:`ID_RE` wherever one comes in: no ``..``, no ``/``,
no control character can reach a blob key.
"""

from __future__ import annotations

import calendar
import datetime
import hashlib
import re
import secrets
import time
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pilothouse.errors import PilothouseError, ValidationFailed

FORMAT = "pilothouse-backup"
FORMAT_VERSION = 1
PREFIX = "backups/"
ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{6}$")
MANIFEST = "manifest.json"
#: the largest manifest read (a manifest lists its chunks: ~200 bytes each)
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


#: the store's partitions of the backups' own bookkeeping: never in a backup, never replaced by a
#: restore (operations and their progress, the unfinished-restore marker, events, verification)
BOOKKEEPING = frozenset({"BACKUPRUN", "BACKUPRESTORE", "BACKUPEVENTS", "BACKUPSTATUS", "BACKUPSETUP"})


class BackupRefused(PilothouseError):
    """A backup that will not be restored or verified: changed, truncated, under another key, of an
    unknown format, or incomplete. Nothing has been written when this is raised."""

    status, code, title = 422, "backup-refused", "Backup refused"


def new_id(now: float) -> str:
    """A backup id for time ``now``: ``YYYYMMDDTHHMMSSZ-xxxxxx``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)) + "-" + secrets.token_hex(3)


def check_id(backup_id: str, field: str = "backup_id") -> str:
    """``backup_id`` if it is one of ours; ValidationFailed naming ``field`` otherwise."""
    if not isinstance(backup_id, str) or not ID_RE.match(backup_id):
        shown = repr(backup_id)[:80] if isinstance(backup_id, str) else type(backup_id).__name__
        raise ValidationFailed.field(
            field, f"{shown} is not a backup id (YYYYMMDDTHHMMSSZ-xxxxxx: no path, no '..')"
        )
    return backup_id


def id_time(backup_id: str) -> float:
    """The creation time (epoch seconds) an id carries."""
    return float(calendar.timegm(time.strptime(backup_id[:16], "%Y%m%dT%H%M%SZ")))


def folder(backup_id: str) -> str:
    return f"{PREFIX}{check_id(backup_id)}/"


def manifest_key(backup_id: str) -> str:
    return folder(backup_id) + MANIFEST


def chunk_key(backup_id: str, index: int) -> str:
    if not 0 <= index < 1_000_000:
        raise ValueError(f"chunk index out of range: {index}")
    return f"{folder(backup_id)}chunk-{index:06d}.jsonl.gz.sealed"


def id_of_key(key: str) -> str | None:
    """The backup id of a blob key under ``backups/`` (None for anything else)."""
    if not key.startswith(PREFIX):
        return None
    candidate = key[len(PREFIX) :].split("/", 1)[0]
    return candidate if ID_RE.match(candidate) else None


def kind_of(pk: str) -> str:
    """The entity kind of a partition: ``EVENTS#greeter`` -> ``events``, ``COMPONENT`` -> ``component``."""
    return pk.split("#", 1)[0].lower() or "unknown"


def chunk_aad(backup_id: str) -> bytes:
    """The associated data that binds a backup's sealed chunks to the backup."""
    return b"pilothouse-backup\x00" + backup_id.encode()


class KindDigests:
    """Per-kind item counts and order-independent digests (the sum of the SHA-256 of every item's
    line, modulo 2**256), so a scan in any order (DynamoDB's) gives the same digest."""

    MOD = 1 << 256

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._sums: dict[str, int] = {}
        #: the kind of each partition seen (a backup meets the same partitions again and again)
        self._kinds: dict[str, str] = {}

    def add(self, pk: str, line: bytes) -> None:
        kind = self._kinds.get(pk)
        if kind is None:
            kind = self._kinds[pk] = kind_of(pk)
            if len(self._kinds) > 100_000:  # many tiny partitions: keep the memory bounded
                self._kinds.clear()
        self.counts[kind] = self.counts.get(kind, 0) + 1
        # summed unreduced (Python integers grow a bit), reduced modulo 2**256 when read
        self._sums[kind] = self._sums.get(kind, 0) + int.from_bytes(hashlib.sha256(line).digest(), "big")

    def digests(self) -> dict[str, str]:
        return {k: f"{v % self.MOD:064x}" for k, v in sorted(self._sums.items())}

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class ChunkEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    index: int = Field(ge=0)
    key: str
    items: int = Field(ge=0)
    #: stored (sealed) size and its SHA-256
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    #: the JSON Lines' size before compression
    raw_bytes: int = Field(ge=0)


class Manifest(BaseModel):
    """What a backup holds and how to check it; ``mac`` authenticates every other field."""

    model_config = ConfigDict(extra="forbid", strict=True)

    format: str
    format_version: int
    id: str
    created_at: str
    completed_at: str
    trigger: str
    pilothouse_version: str
    store: str
    consistency: str
    at_rest: str
    encryption: dict[str, Any]
    items: int = Field(ge=0)
    counts: dict[str, int]
    digests: dict[str, str]
    bytes: int = Field(ge=0)
    raw_bytes: int = Field(ge=0)
    chunks: list[ChunkEntry]
    mac: str = Field(pattern=r"^[0-9a-f]{64}$")


def mac_input(body: dict[str, Any]) -> bytes:
    """The canonical bytes the manifest's MAC covers: every field but ``mac``, sorted, compact."""
    import json

    unsigned = {k: v for k, v in body.items() if k != "mac"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


# -- retention ------------------------------------------------------------------------------------


def _bucket(t: float, period: str) -> str:
    tm = time.gmtime(t)
    if period == "daily":
        return time.strftime("%Y-%m-%d", tm)
    if period == "weekly":
        year, week, _ = datetime.date(tm.tm_year, tm.tm_mon, tm.tm_mday).isocalendar()
        return f"{year}-W{week:02d}"
    return time.strftime("%Y-%m", tm)


def retention(
    backups: Sequence[tuple[str, float]],
    *,
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    protect: Iterable[str] = (),
) -> tuple[list[str], dict[str, list[str]]]:
    """Which complete backups to delete, and why each kept one is kept.

    ``backups`` are (id, created) pairs. Kept: the newest ``keep_last``; the newest backup of each
    of the last ``keep_daily`` days, ``keep_weekly`` ISO weeks and ``keep_monthly`` months that have
    one (the generations of Litestream/pgBackRest/restic); and every id in ``protect`` (the newest
    verified backup). Answers (ids to delete, newest first; {kept id: reasons}).
    """
    ordered = sorted(backups, key=lambda b: (b[1], b[0]), reverse=True)
    reasons: dict[str, list[str]] = {}
    for backup_id, _ in ordered[: max(0, keep_last)]:
        reasons.setdefault(backup_id, []).append("last")
    for period, count in (("daily", keep_daily), ("weekly", keep_weekly), ("monthly", keep_monthly)):
        seen: set[str] = set()
        for backup_id, created in ordered:
            if len(seen) >= count:
                break
            bucket = _bucket(created, period)
            if bucket not in seen:
                seen.add(bucket)
                reasons.setdefault(backup_id, []).append(period)
    for backup_id in protect:
        reasons.setdefault(backup_id, []).append("newest verified")
    doomed = [backup_id for backup_id, _ in ordered if backup_id not in reasons]
    return doomed, reasons
