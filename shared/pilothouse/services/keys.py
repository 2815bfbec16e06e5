"""API keys: created once (the secret is shown only then), stored hashed, expiring, revocable.

A key reads ``ph_<id>_<secret>``; the store keeps the SHA-256 of the whole key under its id, so a
lookup is one ``get`` and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from pilothouse.clock import iso
from pilothouse.domain.security import Principal, Role
from pilothouse.errors import NotFound, Unauthorized, ValidationFailed
from pilothouse.store.base import Item, Page
from pilothouse.wiring import Services

PK = "APIKEY"


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
    services: Services,
    *,
    name: str,
    role: str,
    created_by: str,
    expires_in_days: int | None = None,
    key: str | None = None,
    permissions: list[str] | None = None,
    environments: list[str] | None = None,
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
    services.store.put(Item(PK, key_id, data), if_absent=True)
    return key, public_view(data)


def ensure_key(services: Services, key: str, *, name: str, role: str = "admin") -> bool:
    """Store ``key`` unless a key with its id exists already; True if it was created."""
    parts = _split(key)
    if parts and services.store.get(PK, parts[0]) is not None:
        return False
    create_key(services, name=name, role=role, created_by="system", key=key)
    return True


def authenticate(services: Services, key: str | None) -> Principal:
    """The principal a presented key stands for, or Unauthorized (no hint as to why)."""
    if not key:
        raise Unauthorized()
    parts = _split(key)
    if parts is None:
        raise Unauthorized("the API key is not valid")
    item = services.store.get(PK, parts[0])
    if item is None or not hmac.compare_digest(item.data["hash"], _hash(key)):
        raise Unauthorized("the API key is not valid")
    data = item.data
    if data.get("revoked_at"):
        raise Unauthorized("the API key has been revoked")
    if data.get("expires_epoch") and data["expires_epoch"] <= services.clock.time():
        raise Unauthorized("the API key has expired")
    return Principal(
        id=f"key:{data['id']}",
        name=data["name"],
        role=Role.parse(data["role"]),
        permissions=frozenset(data.get("permissions") or ()),
        environments=tuple(data.get("environments") or ()),
    )


def list_keys(services: Services, *, limit: int = 100, cursor: str | None = None) -> tuple[list[dict], str | None]:
    page: Page = services.store.query(PK, limit=limit, cursor=cursor)
    return [public_view(i.data) for i in page.items], page.cursor


def revoke_key(services: Services, key_id: str) -> dict[str, Any]:
    """Revoke a key (idempotent: revoking twice keeps the first time)."""
    item = services.store.get(PK, key_id)
    if item is None:
        raise NotFound(f"no API key with id {key_id!r}")
    if item.data.get("revoked_at"):
        return public_view(item.data)
    data = {**item.data, "revoked_at": iso(services.clock.time())}
    services.store.put(Item(PK, key_id, data), if_version=item.version)
    return public_view(data)
