"""The audit chain's hash covers the same bytes as it always did (a stored chain must verify)."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from pilothouse.domain.audit_chain import MUTABLE, canonical, genesis, record_hash, seal

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_records = st.dictionaries(
    st.sampled_from(["at", "principal", "operation", "target", "é", "count", "last_at", "hash", "z", "A"])
    | st.text(max_size=6),
    _values,
    max_size=10,
)


def _canonical_as_written_before(record: dict) -> bytes:
    """The formula the chain's records were sealed with (domain/audit_chain.py before 2026-12-03)."""
    body = {k: v for k, v in record.items() if k not in MUTABLE}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@settings(max_examples=300, deadline=None)
@given(_records)
def test_canonical_gives_the_bytes_of_the_original_formula(record):
    """Given any record (non-ASCII text, nested values, the mutable fields or not), its canonical
    bytes are those the original json.dumps call made, so every stored hash still verifies."""
    assert canonical(record) == _canonical_as_written_before(record)


def test_a_sealed_record_hashes_as_before():
    """Given a record sealed today, its hash is SHA-256 over prev and the original canonical JSON."""
    record = {"at": "2026-12-03T10:00:00.000Z", "principal": "key:é", "operation": "o", "status": 201}
    sealed = seal(record, day="2026-12-03", seq=1, prev=genesis("2026-12-03"))
    expected = hashlib.sha256(
        sealed["prev"].encode() + b"\n" + _canonical_as_written_before(sealed)
    ).hexdigest()
    assert sealed["hash"] == expected == record_hash(sealed)
    assert record_hash({**sealed, "count": 3, "last_at": "later"}) == expected
