"""API keys: created once (the secret is shown only then), stored hashed, expiring, revocable.

A key reads ``ph_<id>_<secret>``; the store keeps the SHA-256 of the whole key under its id, so a
lookup is one ``get`` and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.security import Principal, Role
from pilothouse.errors import Conflict, Unauthorized, ValidationFailed, VersionConflict
from pilothouse.ports import Check, Page, Put
from pilothouse.repositories.keys import PK as KEYS_PK
from pilothouse.repositories.keys import ApiKeyRepository
from pilothouse.services import key_cache
from pilothouse.services.context import ServiceContext


def repo(services: ServiceContext) -> ApiKeyRepository:
    return ApiKeyRepository(services.store)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _split(key: str) -> tuple[str, str] | None:
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != "ph" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def public_view(data: dict[str, Any]) -> dict[str, Any]:
    """A key record without its hash."""
    return {k: v for k, v in data.items() if k != "hash"}


def create_key(
    services: ServiceContext,
    *,
    name: str,
    role: str,
    created_by: str,
    expires_in_days: int | None = None,
    key: str | None = None,
    permissions: Sequence[str] | None = None,
    environments: Sequence[str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Create a key; return the secret (shown once) and the stored record (without hash).

    ``key`` seeds a known secret (``PILOTHOUSE_ADMIN_KEY``); it must have the ``ph_<id>_<secret>`` form.
    """
    try:
        parsed_role = Role.parse(role)
    except ValueError as exc:
        raise ValidationFailed.field("role", str(exc)) from None
    if key is None:
        key = f"ph_{secrets.token_hex(6)}_{secrets.token_urlsafe(24).replace('_', '-')}"
    parts = _split(key)
    if parts is None or len(parts[1]) < 16:
        raise ValidationFailed.field("key", "a key reads ph_<id>_<secret> with a secret of 16+ characters")
    key_id = parts[0]
    now = services.clock.time()
    data = {
        "id": key_id,
        "name": name,
        "role": parsed_role.label,
        "hash": _hash(key),
        "created_at": iso(now),
        "created_by": created_by,
        "expires_at": iso(now + expires_in_days * 86400) if expires_in_days else None,
        "expires_epoch": now + expires_in_days * 86400 if expires_in_days else None,
        "revoked_at": None,
        "prefix": f"ph_{key_id}_",
        "permissions": sorted(set(permissions or [])),
        "environments": sorted(set(environments or [])),
    }
    repo(services).create(data)
    return key, public_view(data)


def ensure_key(services: ServiceContext, key: str, *, name: str, role: str = "admin") -> bool:
    """Store ``key`` unless a key with its id exists already; True if it was created."""
    parts = _split(key)
    if parts and repo(services).get(parts[0]) is not None:
        return False
    create_key(services, name=name, role=role, created_by="system", key=key)
    return True


def authenticate(services: ServiceContext, key: str | None) -> Principal:
    """The principal a presented key stands for, or Unauthorized (no hint as to why).

    The key's record is read from the store, or from this thread's cache of it while the store's
    :meth:`~pilothouse.ports.Store.change_stamp` says nothing was written since (see
    :mod:`pilothouse.services.key_cache`): a revocation, a demotion or a deletion committed by any
    process is seen by the very next request. The hash, the revocation and the expiry are checked
    on every request either way."""
    if not key:
        raise Unauthorized()
    parts = _split(key)
    if parts is None:
        raise Unauthorized("the API key is not valid")
    known = key_cache.lookup(services.store, parts[0], repo(services).get, KEYS_PK)
    if known is None or not hmac.compare_digest(known.data["hash"], _hash(key)):
        raise Unauthorized("the API key is not valid")
    data = known.data
    if data.get("revoked_at"):
        raise Unauthorized("the API key has been revoked")
    if data.get("expires_epoch") and data["expires_epoch"] <= services.clock.time():
        raise Unauthorized("the API key has expired")
    if known.principal is None:
        known.principal = principal_of(data)
    return known.principal


def principal_of(data: dict[str, Any]) -> Principal:
    """The principal a (valid) key record stands for."""
    return Principal(
        id=f"key:{data['id']}",
        name=data["name"],
        role=Role.parse(data["role"]),
        permissions=frozenset(data.get("permissions") or ()),
        environments=tuple(data.get("environments") or ()),
    )


def list_keys(
    services: ServiceContext, *, limit: int = 100, cursor: str | None = None
) -> tuple[list[dict], str | None]:
    page: Page = repo(services).page(limit=limit, cursor=cursor)
    return [public_view(i.data) for i in page.items], page.cursor


def _active_admin(data: dict[str, Any], now: float) -> bool:
    return (
        data.get("role") == Role.ADMIN.label
        and not data.get("revoked_at")
        and not (data.get("expires_epoch") and data["expires_epoch"] <= now)
    )


LAST_ADMIN = (
    "this is the last active admin key: revoking it would lock everybody out of the keys and the audit "
    "log. Create another admin key first, then revoke this one"
)


def revoke_key(services: ServiceContext, key_id: str) -> dict[str, Any]:
    """Revoke a key (idempotent: revoking twice keeps the first time).

    The last active admin key cannot be revoked (409). The check and the write are one transaction
    that also pins another active admin key's version, so two admins revoking each other's keys at
    once cannot both win and leave nobody in charge.
    """
    for _ in range(20):
        item = repo(services).require(key_id)
        if item.data.get("revoked_at"):
            return public_view(item.data)
        now = services.clock.time()
        data = {**item.data, "revoked_at": iso(now)}
        ops: list[Put | Check] = [repo(services).replace(item, data)]
        if _active_admin(item.data, now):
            admins = (i for i in repo(services).all() if i.sk != key_id and _active_admin(i.data, now))
            other = next(admins, None)
            if other is None:
                raise Conflict(LAST_ADMIN, extra={"field": "key_id", "reason": "last-active-admin"})
            ops.append(repo(services).unchanged(other))
        try:
            repo(services).transact(ops)
        except VersionConflict:
            continue  # the key or the other admin changed meanwhile: look again
        return public_view(data)
    raise Conflict("the keys changed while revoking; retry")


def recover_admin(services: ServiceContext, *, name: str = "recovered admin") -> tuple[str, dict[str, Any]]:
    """Mint a new admin key straight in the store: the way back in when no admin key works.

    Only someone who can reach the store itself (the data directory, or the cloud table with its
    credentials) can run this, which is the same trust as owning the control plane. Audited.
    """
    from pilothouse.services import audit

    secret, record = create_key(services, name=name, role="admin", created_by="system:recover")
    audit.record(
        services,
        principal="system:recover",
        operation="recover_admin_key",
        target=f"api-key:{record['id']}",
        request_id=f"recover-{record['id']}",
        status=201,
        detail="admin key minted with direct store access (pilothouse keys recover)",
    )
    return secret, record


def seeded_key_state(services: ServiceContext, key: str) -> str:
    """``missing``, ``active``, ``revoked`` or ``expired``: what became of a seeded admin key."""
    parts = _split(key)
    item = repo(services).get(parts[0]) if parts else None
    if item is None:
        return "missing"
    if item.data.get("revoked_at"):
        return "revoked"
    if item.data.get("expires_epoch") and item.data["expires_epoch"] <= services.clock.time():
        return "expired"
    return "active"
