"""The audit hash chain (pure): how a record's hash is made and how a day's chain is checked.

Each day (UTC) is one chain. A record carries ``shard`` (its day), ``seq`` (1, 2, 3... in the
day), ``prev`` (the hash of the record before it; the day's genesis value for the first) and
``hash`` = SHA-256 over ``prev`` and the record's canonical JSON (sorted keys, no whitespace)
without ``hash`` and without the two fields a refusal counter updates in place (``count``,
``last_at``). The first record of a day also names the newest earlier day's head it followed
(``anchor``), so a day deleted as a whole breaks the next day's anchor.

    >>> r1 = seal({"at": "t1", "operation": "o"}, day="2026-01-01", seq=1, prev=genesis("2026-01-01"))
    >>> r2 = seal({"at": "t2", "operation": "o"}, day="2026-01-01", seq=2, prev=r1["hash"])
    >>> check_day("2026-01-01", [r1, r2], head={"seq": 2, "hash": r2["hash"]})
    []
    >>> [p["problem"] for p in check_day("2026-01-01", [r2], head={"seq": 2, "hash": r2["hash"]})]
    ['deleted']
    >>> [p["problem"] for p in check_day("2026-01-01", [r1, {**r2, "operation": "x"}], head=None)]
    ['changed', 'head-missing']
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

#: fields a refusal counter updates in place: not covered by the hash
MUTABLE = frozenset({"hash", "count", "last_at"})


def genesis(day: str) -> str:
    """The ``prev`` of a day's first record."""
    return hashlib.sha256(f"pilothouse-audit-genesis:{day}".encode()).hexdigest()


#: the canonical JSON encoder, made once: ``json.dumps`` with these arguments builds one per call
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical(record: dict[str, Any]) -> bytes:
    """The bytes a record's hash covers: its JSON with sorted keys, no whitespace, non-ASCII
    characters as themselves (UTF-8), without the fields in :data:`MUTABLE`.

    >>> canonical({"b": 1, "a": "x", "hash": "h", "count": 2})
    b'{"a":"x","b":1}'
    """
    body = record if MUTABLE.isdisjoint(record) else {k: v for k, v in record.items() if k not in MUTABLE}
    return _canonical(body).encode()


def record_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(str(record.get("prev", "")).encode() + b"\n" + canonical(record)).hexdigest()


def seal(record: dict[str, Any], *, day: str, seq: int, prev: str) -> dict[str, Any]:
    """``record`` placed in the chain: with shard, seq, prev and its hash."""
    out = {**record, "shard": day, "seq": seq, "prev": prev}
    out["hash"] = record_hash(out)
    return out


def check_day(day: str, records: list[dict[str, Any]], head: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The problems of one day's chain: ``records`` as stored (with ``_sk``, the sort key, when
    known), ``head`` the day's head. Each problem names ``shard``, ``seq`` and what is wrong:

    * ``changed`` — the record's content no longer matches its hash;
    * ``deleted`` — a sequence number is missing (in the middle, or at the end per the head);
    * ``reordered`` — a record sits at another place than its sequence number, or its ``prev``
      is not the hash of the record before it;
    * ``inserted`` — a record without a place in the chain;
    * ``head-missing`` / ``head-mismatch`` — the day's head is gone or points elsewhere.
    """
    problems: list[dict[str, Any]] = []

    def report(seq: Any, problem: str, detail: str) -> None:
        problems.append({"shard": day, "seq": seq, "problem": problem, "detail": detail})

    chained = []
    for r in records:
        if not isinstance(r.get("seq"), int) or r.get("shard") != day:
            report(r.get("seq"), "inserted", "a record without its place in this day's chain")
            continue
        sk = r.get("_sk")
        if sk is not None and sk != f"{r['seq']:012d}":
            report(r["seq"], "reordered", f"stored at place {sk.lstrip('0') or 0}, not at its own")
        chained.append(r)
    chained.sort(key=lambda r: r["seq"])
    expected = 1
    prev: str | None = genesis(day)
    for r in chained:
        seq = r["seq"]
        if seq < expected:
            report(seq, "reordered", "two records claim this place")
            continue
        if seq > expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
            report(expected, "deleted", f"record(s) {missing} are missing")
            prev = None  # the link across the gap cannot be checked
        if record_hash({k: v for k, v in r.items() if k != "_sk"}) != r.get("hash"):
            report(seq, "changed", "the record does not match its hash")
        elif prev is not None and r.get("prev") != prev:
            report(seq, "reordered", "its prev is not the hash of the record before it")
        prev, expected = r.get("hash"), seq + 1
    last = chained[-1] if chained else None
    if head is None:
        if chained:
            report(None, "head-missing", "the day's chain head is gone")
        return problems
    if head["seq"] >= expected:
        missing = f"{expected}" if head["seq"] == expected else f"{expected}..{head['seq']}"
        report(expected, "deleted", f"record(s) {missing} at the end of the day are missing")
    elif last is not None and head.get("hash") != last.get("hash"):
        report(head["seq"], "head-mismatch", "the day's head does not point at its last record")
    return problems
