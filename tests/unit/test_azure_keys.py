"""The Azure Table key escape (pilothouse.store.azure_keys): reversible, order- and prefix-preserving,
and free of the characters Azure refuses in PartitionKey / RowKey."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pilothouse.store.azure_keys import decode_key, encode_key, prefix_upper_bound

#: what Azure refuses in PartitionKey and RowKey
FORBIDDEN = set("/\\#?") | {chr(c) for c in range(0x20)} | {chr(c) for c in range(0x7F, 0xA0)}
#: our keys: any text; the interesting characters drawn often
keys = st.text(
    alphabet=st.one_of(
        st.sampled_from(sorted(FORBIDDEN) + list(' "#./>?[\\~!$-0Az') + ["é", "\u00a0", "日"]),
        st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)),
    ),
    max_size=20,
)


@given(keys)
def test_the_encoding_is_reversible_and_free_of_forbidden_characters(key: str) -> None:
    """Given any key, When encoded, Then it has no character Azure refuses and decodes to the key."""
    encoded = encode_key(key)
    assert not FORBIDDEN & set(encoded)
    assert decode_key(encoded) == key


@given(keys, keys)
def test_the_encoding_keeps_order_and_prefixes(a: str, b: str) -> None:
    """Given two keys, Then their encodings compare as they do, and one is a prefix of the other exactly
    when its encoding is a prefix of the other's encoding (so range queries on encoded keys work)."""
    ea, eb = encode_key(a), encode_key(b)
    assert (a < b) == (ea < eb)
    assert b.startswith(a) == eb.startswith(ea)
    bound = prefix_upper_bound(ea)
    if b.startswith(a) and bound is not None:
        assert ea <= eb < bound


def test_text_the_encoding_never_makes_is_refused() -> None:
    """Given an escape character without its marker (or with an unknown one), Then decoding refuses it."""
    for bad in ('"', "a.", '"z', " !"):
        with pytest.raises(ValueError):
            decode_key(bad)


def test_plain_keys_stay_readable() -> None:
    """Given the control plane's usual keys, Then only their '#' changes (to '"1')."""
    assert encode_key("EVENTS#web") == 'EVENTS"1web'
    assert encode_key("COMPONENT") == "COMPONENT"
