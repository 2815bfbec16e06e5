"""A component's config checked against its JSON Schema, each schema checked and compiled once.

    >>> check_config({"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": 1})
    >>> check_config({"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": "x"})
    Traceback (most recent call last):
    ...
    ValueError: n: 'x' is not of type 'integer'

Checking a schema against the Draft 2020-12 metaschema costs far more than validating a config
with it, and a control plane sees the same few schemas again and again (every register, update
and promotion of a component repeats its schema). So the metaschema check and the compiled
validator are kept per schema, in a bounded LRU keyed by the schema's JSON text. The key keeps the
schema's own key order: the same schema written in another order is compiled again, so the error
reported for a bad config (``best_match`` breaks ties by order) is always the one an uncached check
would report. The cached validator is compiled from a private copy of the schema (a caller that
mutates its dict afterwards does not change it); jsonschema validators are immutable, so threads
share them.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

#: distinct schemas kept compiled (the least recently used one is dropped beyond it)
CACHE_SIZE = 256


def _compile(schema: Any) -> Validator | str:
    """The validator of ``schema``, or the message saying why it is not a JSON Schema."""
    import jsonschema  # imported here: only registrations with a schema pay for it

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"config_schema is not a valid JSON Schema: {exc.message}"
    return jsonschema.Draft202012Validator(schema)


@lru_cache(maxsize=CACHE_SIZE)
def _compiled(schema_json: str) -> Validator | str:
    return _compile(json.loads(schema_json))


def _validator(schema: Any) -> Validator | str:
    """The (cached) validator of ``schema``. A schema that JSON would not carry as it is (a Python
    caller's tuple, non-text keys, NaN) is checked as it is, every time, as before the cache."""
    try:
        key = json.dumps(schema, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return _compile(schema)
    if json.loads(key) != schema:
        return _compile(schema)
    return _compiled(key)


def compiled(schema: Any) -> Validator | str:
    """The cached validator of ``schema``, or the message saying why it is not a JSON Schema."""
    return _validator(schema)


def check_config(schema: dict[str, Any] | None, config: dict[str, Any]) -> None:
    """Validate ``config`` against a JSON Schema; raise ValueError naming the offending field. A
    ``{"$secret": name}`` reference stands for a value that is not there yet: nothing at or under
    one is reported."""
    if schema is None:
        return
    import jsonschema

    from pilothouse.domain.config_layers import under_secret_ref

    validator = _validator(schema)
    if isinstance(validator, str):
        raise ValueError(validator)
    errors = (e for e in validator.iter_errors(config) if not under_secret_ref(config, list(e.absolute_path)))
    error = jsonschema.exceptions.best_match(errors)
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        raise ValueError(f"{where.lstrip('.') + ': ' if where else ''}{error.message}")
