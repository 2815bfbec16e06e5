"""Naming a deployment the short way: its full id, a unique start of it (or of its random tail), or
a component's name for that component's latest deployment (as ``kubectl argo rollouts promote NAME``).

The API knows only full ids; this resolves the others with its list endpoints (newest first).
"""

from __future__ import annotations

import re
from typing import Any

from pilothouse.cli.client import ApiError, Client

#: how many candidates an ambiguous reference names
SHOWN = 5
#: a whole deployment id (the component's operation id): used as it is, without a look-up
FULL_ID = re.compile(r"^\d{19}-[0-9a-f]{8}$")


def _matches(dep_id: str, ref: str) -> bool:
    _, _, tail = dep_id.partition("-")
    return dep_id.startswith(ref) or (bool(tail) and tail.startswith(ref))


def resolve_deployment(client: Client, ref: str) -> str:
    """The full id ``ref`` stands for; ApiError 404 if none, 400 if it is ambiguous."""
    ref = ref.strip()
    if FULL_ID.match(ref):
        return ref
    if not ref:
        raise ApiError(400, {"title": "No deployment named", "detail": "give a deployment id or a component"})
    try:
        return str(client.get(f"/v1/deployments/{ref}")["id"])
    except ApiError as exc:
        if exc.status != 404:
            raise
        missing = exc
    latest = client.get("/v1/deployments", component=ref, limit=1).get("items") or []
    if latest:
        return str(latest[0]["id"])
    found: list[str] = []
    for items, _cursor in client.pages("/v1/deployments", {"limit": 500}, follow=True):
        found.extend(str(d["id"]) for d in items if _matches(str(d.get("id", "")), ref))
        if len(found) > SHOWN:
            break
    if len(found) == 1:
        return found[0]
    if found:
        shown = ", ".join(found[:SHOWN]) + (", …" if len(found) > SHOWN else "")
        raise ApiError(
            400,
            {
                "title": "Ambiguous deployment id",
                "detail": f"{ref!r} starts more than one deployment id: {shown}",
                "hint": "give more of the id",
            },
        )
    problem: dict[str, Any] = dict(missing.problem)
    problem.setdefault(
        "hint", "give a deployment id, a unique start of one, or a component's name for its latest deployment"
    )
    raise ApiError(404, problem)
