"""API keys, roles, audit and Idempotency-Key, through the functions."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from tests.support.specs import spec


def make_key(api, role, **extra):
    status, _, body = api.post("/v1/api-keys", {"name": f"{role}-key", "role": role, **extra})
    assert status == 201, body
    return body


def test_missing_or_bad_key_is_401(api):
    status, headers, problem = api.get("/v1/components", key=None)
    assert status == 401 and problem["type"].endswith("unauthorized")
    assert headers["www-authenticate"].startswith("Bearer")
    assert api.get("/v1/components", key="ph_nope_nothing-like-a-real-key")[0] == 401
    assert api.get("/v1/components", key="garbage")[0] == 401
    assert api.get("/v1/health", key=None)[0] == 200  # the one open door (with the OpenAPI doc)


def test_x_api_key_header_works(api):
    status, _, _ = api.get("/v1/components", key=None, headers={"X-Api-Key": api.key})
    assert status == 200


def test_roles_are_ordered(api):
    """viewer < operator < deployer < admin: each operation needs its permission, else 403."""
    viewer = make_key(api, "viewer")["key"]
    operator = make_key(api, "operator")["key"]
    deployer = make_key(api, "deployer")["key"]
    assert api.get("/v1/components", key=viewer)[0] == 200
    status, _, problem = api.post("/v1/components", spec("web"), key=viewer)
    assert status == 403 and problem["required_permission"] == "components:deploy"
    assert api.post("/v1/components", spec("web"), key=operator)[0] == 403
    assert api.post("/v1/components", spec("web"), key=deployer)[0] == 201
    assert api.post("/v1/components/web/stop", key=operator)[0] == 409  # allowed, but illegal in Registered
    assert api.get("/v1/audit", key=deployer)[0] == 403
    assert api.get("/v1/api-keys", key=deployer)[0] == 403
    # 401/403 come before validation: a viewer's bad body is still a 403
    assert api.post("/v1/components", {"name": 5}, key=viewer)[0] == 403
    assert api.post("/v1/components", {"name": 5}, key=None)[0] == 401


def test_keys_are_stored_hashed_listed_and_revocable(api, services):
    created = make_key(api, "viewer")
    secret = created["key"]
    stored = services.store.get("APIKEY", created["id"]).data
    assert secret not in json.dumps(stored) and stored["hash"]
    listed = api.get("/v1/api-keys")[2]["items"]
    assert {k["id"] for k in listed} >= {created["id"]} and all(
        "hash" not in k and "key" not in k for k in listed
    )
    assert api.get("/v1/components", key=secret)[0] == 200
    status, _, revoked = api.delete(f"/v1/api-keys/{created['id']}")
    assert status == 200 and revoked["revoked_at"]
    status, _, problem = api.get("/v1/components", key=secret)
    assert status == 401 and "revoked" in problem["detail"]
    assert api.delete("/v1/api-keys/doesnotexist")[0] == 404


def test_expired_key_is_401(api, services):
    secret = make_key(api, "viewer", expires_in_days=1)["key"]
    assert api.get("/v1/components", key=secret)[0] == 200
    services.clock = type(
        "Later", (), {"time": staticmethod(lambda: __import__("time").time() + 2 * 86400)}
    )()
    status, _, problem = api.get("/v1/components", key=secret)
    assert status == 401 and "expired" in problem["detail"]


def test_every_mutation_is_audited_whatever_the_outcome(api):
    viewer = make_key(api, "viewer")["key"]
    api.post("/v1/components", spec("web"))  # 201
    api.post("/v1/components", spec("web"))  # 409
    api.post("/v1/components", spec("x"), key=viewer)  # 403
    api.post("/v1/components", spec("y"), key=None)  # 401
    api.post("/v1/components", {"name": "Bad"})  # 422
    api.get("/v1/components")  # reads are not audited
    items = api.get("/v1/audit", query="operation=register_component")[2]["items"]
    assert [i["status"] for i in items] == [422, 401, 403, 409, 201]  # newest first
    assert [i["outcome"] for i in items] == ["failure", "denied", "denied", "failure", "success"]
    assert items[-1]["principal"].startswith("key:") and items[-1]["target"] == "component:web"
    assert items[1]["principal"] == "anonymous"
    assert all(i["request_id"] for i in items)
    ops = {i["operation"] for i in api.get("/v1/audit", query="limit=100")[2]["items"]}
    assert "create_api_key" in ops and "list_components" not in ops


def test_idempotency_key_replays_the_first_answer(api):
    """Given a POST repeated with one Idempotency-Key, then it acts once and replays its answer."""
    h = {"Idempotency-Key": "abc-123"}
    first = api.post("/v1/components", spec("web"), headers=h)
    again = api.post("/v1/components", spec("web"), headers=h)
    assert first[0] == again[0] == 201
    assert first[2] == again[2]
    assert again[1].get("idempotent-replayed") == "true" and "idempotent-replayed" not in first[1]
    events = api.get("/v1/components/web/events")[2]["items"]
    assert [e["type"] for e in events] == ["registered"]
    status, _, problem = api.post("/v1/components", spec("other"), headers=h)
    assert status == 422 and problem["errors"][0]["field"] == "Idempotency-Key"
    # an error answer is replayed too, and a new key acts anew
    assert api.post("/v1/components/web/stop", headers={"Idempotency-Key": "k2"})[0] == 409
    assert api.post("/v1/components/web/stop", headers={"Idempotency-Key": "k2"})[0] == 409


def test_concurrent_requests_with_one_idempotency_key_act_once(api):
    h = {"Idempotency-Key": "same"}
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: api.post("/v1/components", spec("web"), headers=h)[0], range(8)))
    assert results.count(201) >= 1 and set(results) <= {201, 409}
    assert [e["type"] for e in api.get("/v1/components/web/events")[2]["items"]] == ["registered"]


def test_internal_errors_are_500_with_a_request_id_and_no_trace(api, monkeypatch):
    import pilothouse.services.components as components

    def broken(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(components, "list_components", broken)
    status, headers, problem = api.get("/v1/components")
    assert status == 500
    assert problem["request_id"] == headers["x-request-id"] and problem["request_id"] in problem["detail"]
    assert "secret internals" not in json.dumps(problem) and "Traceback" not in json.dumps(problem)
