"""A component's config checked against its JSON Schema, each schema checked and compiled once.

    >>> check_config({"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": 1})
    >>> check_config({"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": "x"})
    Traceback (most recent call last):
    ...
    ValueError: n: 'x' is not of type 'integer'

Checking a schema against the Draft 2020-12 metaschema costs far more than validating a config
with it, and a control plane sees the same few schemas again and again (every register, update
and promotion of a component repeats its schema). So the metaschema check and the compiled
validator are kept per schema, in a bounded LRU keyed by the schema's ``marshal`` bytes (format
2: every value with its exact type, ``True`` apart from ``1``, a tuple apart from a list, a text
key apart from a number, in the schema's own key order, and no back-references, so equal schemas
give equal bytes). The key keeps the schema's own key order: the same schema written in another
order is compiled again, so the error reported for a bad config (``best_match`` breaks ties by
order) is always the one an uncached check would report. The cached validator is compiled from a
private copy of the schema (read back from its key: the same values of the same types; a caller
that mutates its dict afterwards does not change it); jsonschema validators are immutable, so
threads share them. A schema the copy would not stand for exactly (a NaN, which equals no copy of
itself) or that ``marshal`` does not carry (another type, a subclass) is checked as it is, every
time, as before the cache. Making the key costs a tenth of the JSON text it replaced (which was
encoded, decoded again and compared on every call).

Validating a config against a schema without references is a pure function of the two (formats
are not asserted), and the same pair comes back just as often (a component registered again,
updated with its config unchanged, promoted). So what such a check concluded (nothing, or the
message naming the field) is kept too, per pair of keys, for pairs up to ``OUTCOME_MAX_BYTES`` of
keys (``OUTCOME_CACHE_SIZE`` of them at most): read back from its key, the config validates exactly
as the caller's. A config holding a NaN or anything marshal does not carry is checked every time.
A reference a schema names resolves inside the schema or to the metaschemas, offline: nothing is
ever fetched (see :func:`_compile`), so a check stays a function of the pair.
"""

from __future__ import annotations

import marshal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

#: distinct schemas kept compiled (the least recently used one is dropped beyond it)
CACHE_SIZE = 256

#: checks of a (schema, config) pair whose conclusion is kept, and the largest pair kept (bytes of
#: both keys): at most about 4 MB of keys
OUTCOME_CACHE_SIZE = 256
OUTCOME_MAX_BYTES = 16 * 1024

#: marshal's format without back-references and interning flags: the bytes depend on the values
#: (and their types) alone, never on which objects happen to be shared
_MARSHAL_VERSION = 2


def _compile(schema: Any) -> Validator | str:
    """The validator of ``schema``, or the message saying why it is not a JSON Schema."""
    import jsonschema  # imported here: only registrations with a schema pay for it
    from jsonschema_specifications import REGISTRY  # the metaschemas, offline

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"config_schema is not a valid JSON Schema: {exc.message}"
    # The registry holds the schema itself and the JSON Schema metaschemas, and retrieves nothing:
    # jsonschema's default one fetches any http(s) URL a "$ref" names, on every check, from the
    # control plane's network (a schema naming http://169.254.169.254/... would have it read the
    # cloud's metadata). A reference to anything else is unresolvable (see unresolvable()).
    return jsonschema.Draft202012Validator(schema, registry=REGISTRY)


def unresolvable(exc: Exception) -> str:
    """The message for a reference a config schema names that is not inside it."""
    ref = getattr(exc, "ref", None)
    return (
        f"config_schema: the reference {ref!r} cannot be resolved; only references inside the "
        "schema (and to the JSON Schema metaschemas) are followed"
    )


@lru_cache(maxsize=CACHE_SIZE)
def _compiled(key: bytes) -> Validator | str | None:
    """The validator of the schema marshalled as ``key``, compiled from a copy read back from it;
    None when such a copy would not stand for the schema (a NaN: two copies differ)."""
    copy = marshal.loads(key)
    if copy != marshal.loads(key):
        return None
    return _compile(copy)


def _validator(schema: Any) -> Validator | str:
    """The (cached) validator of ``schema``. A schema ``marshal`` does not carry exactly (a type
    or subclass it refuses, nesting too deep, a NaN) is checked as it is, every time."""
    try:
        key = marshal.dumps(schema, _MARSHAL_VERSION)
    except ValueError:
        return _compile(schema)
    found = _compiled(key)
    return _compile(schema) if found is None else found


def compiled(schema: Any) -> Validator | str:
    """The cached validator of ``schema``, or the message saying why it is not a JSON Schema."""
    return _validator(schema)


#: what _outcome answers for a pair it cannot stand for (the caller's values are checked as they are)
_AS_IS = object()


@lru_cache(maxsize=OUTCOME_CACHE_SIZE)
def _outcome(schema_key: bytes, config_key: bytes) -> str | None | object:
    """What checking the config marshalled as ``config_key`` against the schema marshalled as
    ``schema_key`` concludes (None: valid; else the message), from copies read back from the keys;
    ``_AS_IS`` when the copies would not stand for them (a NaN)."""
    validator = _compiled(schema_key)
    config = marshal.loads(config_key)
    if validator is None or config != marshal.loads(config_key):
        return _AS_IS
    return _problem(validator, config)


def _problem(validator: Validator | str, config: Any) -> str | None:
    """What is wrong with ``config`` by ``validator`` (or the schema's own problem), or None."""
    if isinstance(validator, str):
        return validator
    import jsonschema
    from referencing.exceptions import Unresolvable

    from pilothouse.domain.config_layers import under_secret_ref

    errors = (e for e in validator.iter_errors(config) if not under_secret_ref(config, list(e.absolute_path)))
    try:
        error = jsonschema.exceptions.best_match(errors)
    except Unresolvable as exc:
        return unresolvable(exc)
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.') + ': ' if where else ''}{error.message}"


def check_config(schema: dict[str, Any] | None, config: dict[str, Any]) -> None:
    """Validate ``config`` against a JSON Schema; raise ValueError naming the offending field. A
    ``{"$secret": name}`` reference stands for a value that is not there yet: nothing at or under
    one is reported."""
    if schema is None:
        return
    try:
        schema_key = marshal.dumps(schema, _MARSHAL_VERSION)
        config_key = marshal.dumps(config, _MARSHAL_VERSION)
    except ValueError:
        found: str | None | object = _AS_IS
    else:
        kept = len(schema_key) + len(config_key) <= OUTCOME_MAX_BYTES
        found = _outcome(schema_key, config_key) if kept else _AS_IS
    problem = _problem(_validator(schema), config) if found is _AS_IS else found
    if problem is not None:
        raise ValueError(problem)
