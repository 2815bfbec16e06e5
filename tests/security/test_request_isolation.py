"""Requests in flight at once never see each other's body, headers or identity (issue 17 §3).

``pilothouse dev`` runs many function instances as threads of one process; each request must be
validated, authorized and de-duplicated with its own event only.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from pilothouse.services.keys import create_key

ROLES = ("viewer", "operator", "deployer", "admin")


def _spec(name: str) -> dict:
    return {
        "name": name,
        "provider": "local",
        "version": "1.0.0",
        "target": {"command": ["{python}", "-m", "http.server", "{port}"]},
    }


def test_concurrent_requests_each_get_their_own_answer(api, services):
    """Given keys of every role, when 64 requests with distinct keys, bodies and Idempotency-Keys
    hit the same function at once, then each answer belongs to its own request: deployers and
    admins register exactly their own component, viewers and operators get 403, none gets another's."""
    keys = {role: create_key(services, name=role, role=role, created_by="test")[0] for role in ROLES}
    barrier = threading.Barrier(16)

    def fire(i: int):
        role = ROLES[i % 4]
        barrier.wait()
        status, headers, body = api.post(
            "/v1/components", _spec(f"iso-{i}"), key=keys[role], headers={"idempotency-key": f"k-{i}"}
        )
        return i, role, status, body, headers.get("x-request-id")

    with ThreadPoolExecutor(16) as ex:
        results = list(ex.map(fire, range(64)))
    for i, role, status, body, _ in results:
        if role in ("viewer", "operator"):
            assert status == 403, (i, role, status, body)
        else:
            assert status == 201, (i, role, status, body)
            assert body["name"] == f"iso-{i}", (i, body)
    audit = api.get("/v1/audit", query="limit=500")[2]["items"]
    by_request = {r["request_id"]: r for r in audit if r["operation"] == "register_component"}
    principals = {role: f"key:{keys[role].split('_')[1]}" for role in ROLES}
    for i, role, status, _, request_id in results:
        rec = by_request.get(request_id)
        assert rec is not None and rec["status"] == status and rec["principal"] == principals[role], (i, rec)
