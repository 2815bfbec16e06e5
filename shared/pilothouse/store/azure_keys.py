"""Our partition and sort keys as Azure Table keys: a reversible, order-preserving escape.

Azure refuses ``/``, ``\\``, ``#``, ``?`` and the control characters (U+0000-U+001F,
U+007F-U+009F) in ``PartitionKey`` and ``RowKey``, and our keys use ``#`` everywhere
(``EVENTS#<name>``). Each forbidden character is written as the allowed character just below it
followed by a marker, and that allowed character itself gets the lowest marker:

=========================  ===========  ===========================================================
characters                 escape       encoding
=========================  ===========  ===========================================================
U+0000-U+0020 (and space)  space        space + ``MARKERS[code]`` (space itself: marker 32)
``"`` ``#``                ``"``        ``"0`` ``"1``
``.`` ``/``                ``.``        ``.0`` ``.1``
``>`` ``?``                ``>``        ``>0`` ``>1``
``[`` ``\\``               ``[``        ``[0`` ``[1``
``~`` U+007F-U+009F        ``~``        ``~`` + ``MARKERS[0]``, ``MARKERS[1..33]``
=========================  ===========  ===========================================================

Every other character stands for itself. The markers are ``0-9A-Za-z`` in increasing order, so
for any two characters ``a < b`` the encoding of ``a`` sorts before that of ``b``; the code is
prefix-free (an escape character is always followed by exactly one marker), so string order is
kept too, and a key starts with a prefix exactly when its encoding starts with the prefix's
encoding: prefix queries and reverse listings work on the encoded keys.

Order is code-point order, as Python compares; Azure compares UTF-16 code units, which differ only
between characters above U+FFFF and those in U+E000-U+FFFF (never in our keys).
"""

from __future__ import annotations

MARKERS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# escape character -> the characters it stands for with a marker (marker i -> chars[i])
_GROUPS: dict[str, str] = {
    " ": "".join(chr(c) for c in range(0x21)),
    '"': '"#',
    ".": "./",
    ">": ">?",
    "[": "[\\",
    "~": "~" + "".join(chr(c) for c in range(0x7F, 0xA0)),
}

_ENCODE: dict[str, str] = {}
_DECODE: dict[str, dict[str, str]] = {}
for _escape, _chars in _GROUPS.items():
    _DECODE[_escape] = {}
    for _i, _char in enumerate(_chars):
        _ENCODE[_char] = _escape + MARKERS[_i]
        _DECODE[_escape][MARKERS[_i]] = _char
_TABLE = str.maketrans(_ENCODE)


def encode_key(key: str) -> str:
    """The Azure-safe spelling of ``key`` (same order, same prefixes)."""
    return key.translate(_TABLE)


def decode_key(encoded: str) -> str:
    """The key :func:`encode_key` was given; ValueError for text it never makes."""
    out: list[str] = []
    i = 0
    while i < len(encoded):
        char = encoded[i]
        group = _DECODE.get(char)
        if group is None:
            out.append(char)
            i += 1
            continue
        if i + 1 >= len(encoded) or encoded[i + 1] not in group:
            raise ValueError(f"not an encoded key: {encoded!r}")
        out.append(group[encoded[i + 1]])
        i += 2
    return "".join(out)


def prefix_upper_bound(encoded_prefix: str) -> str | None:
    """The smallest string above every string that starts with ``encoded_prefix`` (None: no bound)."""
    text = encoded_prefix
    while text:
        last = ord(text[-1])
        if last < 0xFFFF and not 0xD7FF <= last < 0xE000:
            return text[:-1] + chr(last + 1)
        text = text[:-1]
    return None
