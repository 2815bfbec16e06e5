"""What the control plane stores, without validating it: the stored records' checks on write
(:func:`stored`, :func:`checked`, whose models load on the first write) and a pending command as
answers show it (:func:`public_operation`). Nothing here loads pydantic, so a function that only
reads never does for them; the typed pending command is :class:`pilothouse.domain.pending.PendingCommand`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# the old spelling of the operation's fields inside its parameters
LEGACY_PARAM_FIELDS = {"_strategy": "strategy", "_steps": "steps", "_notify_token": "notify_token"}


def public_operation(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored operation as the component's answer has always shown it, without validating it
    (this runs on every read of a component).

    The plan appears under its old keys inside ``params`` so answers stay as they were; the
    promotion's notification token is a credential and never leaves the record.
    """
    if not any(k in stored for k in ("strategy", "steps", "notify_token")) and "_notify_token" not in (
        stored.get("params") or {}
    ):
        return stored
    out: dict[str, Any] = {}
    for key, value in stored.items():
        if key not in ("strategy", "steps", "notify_token"):
            out[key] = value
    params = {k: v for k, v in (stored.get("params") or {}).items() if k != "_notify_token"}
    for old, new in (("_strategy", "strategy"), ("_steps", "steps")):
        if stored.get(new) is not None:
            params[old] = stored[new]
    out["params"] = params
    return out


def stored(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` validated by the stored model named ``kind`` (:mod:`pilothouse.domain.stored_models`),
    as the record keeps it. The models load on the first write, so a function that only reads
    never builds them.

    >>> stored("AuditEntry", {"status": 200, "at": "t", "principal": "p", "operation": "o", "outcome": "ok"})
    {'status': 200, 'at': 't', 'principal': 'p', 'operation': 'o', 'outcome': 'ok'}
    """
    from pilothouse.domain import stored_models

    return stored_models.stored(getattr(stored_models, kind), data)


#: each stored model's validation, by the model's name, once looked up (:func:`checked`)
_validators: dict[str, Callable[[Any], Any]] = {}


def checked(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` itself once the stored model named ``kind`` accepts it: for hot records whose writer
    builds plain values only (no default to fill, no alias to apply), where :func:`stored`'s
    re-serialisation would give the same document at several times the cost (metric rollups).
    The model's validator is looked up once per kind (a register checks five records).

    >>> entry = {"status": 200, "at": "t", "principal": "p", "operation": "o", "outcome": "ok"}
    >>> checked("AuditEntry", entry) is entry
    True
    """
    validate = _validators.get(kind)
    if validate is None:
        from pilothouse.domain import stored_models

        validate = _validators[kind] = getattr(stored_models, kind).__pydantic_validator__.validate_python
    validate(data)
    return data
