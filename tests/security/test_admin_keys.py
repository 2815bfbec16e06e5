"""The last admin key cannot be revoked, racing revocations cannot leave nobody in charge, and an
operator with store access can always get back in (issue 17 §1)."""

from __future__ import annotations

import threading

from typer.testing import CliRunner

from pilothouse.services.keys import authenticate, create_key, revoke_key
from tests.support.controlplane import ADMIN_KEY


def _id(key: str) -> str:
    return key.split("_")[1]


def test_revoking_the_last_admin_key_is_409(api):
    """Given only the seeded admin key, when it revokes itself, then 409 says why and it still works."""
    status, _, body = api.delete(f"/v1/api-keys/{_id(ADMIN_KEY)}")
    assert status == 409 and "last active admin key" in body["detail"], body
    assert api.get("/v1/api-keys")[0] == 200


def test_an_admin_key_can_go_once_another_exists(api, services):
    """Given a second admin key, when the first is revoked, then it works (200) and the second rules."""
    second = create_key(services, name="second", role="admin", created_by="t")[0]
    assert api.delete(f"/v1/api-keys/{_id(ADMIN_KEY)}")[0] == 200
    assert api.get("/v1/api-keys", key=second)[0] == 200
    status, _, body = api.delete(f"/v1/api-keys/{_id(second)}", key=second)
    assert status == 409, body


def test_revoking_viewer_keys_is_unaffected(api, services):
    """Given a viewer key, when revoked, then 200 (only admin keys are counted)."""
    viewer = create_key(services, name="v", role="viewer", created_by="t")[0]
    assert api.delete(f"/v1/api-keys/{_id(viewer)}")[0] == 200


def test_two_admins_revoking_each_other_at_once_leave_one(services, admin_key):
    """Given two admin keys, when each revokes the other at the same moment (30 rounds), then exactly
    one revocation wins every time and one admin key stays active."""
    for _ in range(30):
        a = create_key(services, name="a", role="admin", created_by="t")[0]
        b = create_key(services, name="b", role="admin", created_by="t")[0]
        # the previous survivor would keep one active: revoke it for the race (only a and b remain)
        for key in (k for k in [admin_key] if _active(services, k)):
            revoke_key(services, _id(key))
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def revoke(target: str, label: str, barrier=barrier, outcomes=outcomes) -> None:
            barrier.wait()
            try:
                revoke_key(services, _id(target))
                outcomes[label] = "revoked"
            except Exception as exc:  # noqa: BLE001 - the loser's error is the point
                outcomes[label] = type(exc).__name__

        threads = [
            threading.Thread(target=revoke, args=(b, "b")),
            threading.Thread(target=revoke, args=(a, "a")),
        ]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sorted(outcomes.values()) == ["Conflict", "revoked"], outcomes
        assert _active(services, a) != _active(services, b)
        # tidy for the next round: a fresh pair, the survivor revoked once the new pair exists
        survivor = a if _active(services, a) else b
        admin_key = survivor


def _active(services, key: str) -> bool:
    try:
        authenticate(services, key)
        return True
    except Exception:  # noqa: BLE001
        return False


def test_recover_mints_an_admin_key_with_store_access(env, services, admin_key):
    """Given every admin key lost, when the operator runs `pilothouse keys recover --data-dir`, then
    a new admin key is printed, works, and the act is audited as system:recover."""
    from pilothouse.cli.main import app
    from pilothouse.services import audit

    result = CliRunner().invoke(app, ["keys", "recover", "--data-dir", str(env / "data")])
    assert result.exit_code == 0, result.output
    minted = next(w for w in result.output.split() if w.startswith("ph_"))
    assert authenticate(services, minted).role.label == "admin"
    records, _ = audit.list_records(services, operation="recover_admin_key")
    assert records and records[0]["principal"] == "system:recover"
    assert minted not in str(records)
