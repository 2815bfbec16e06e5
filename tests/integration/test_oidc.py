"""OpenID Connect bearer tokens through the functions, against a local issuer on 127.0.0.1."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support.oidc_issuer import LocalIssuer
from tests.support.specs import spec


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def issuer(env, monkeypatch, loopback_only):
    """Given a local issuer trusted by the control plane: group ``sre`` is deployer everywhere,
    ``devs`` deployer in development only, ``readers`` viewer, ``release`` approves."""
    with LocalIssuer() as iss:
        config = [
            {
                "issuer": iss.url,
                "audience": "pilothouse",
                "clock_skew_seconds": 30,
                "roles": [
                    {"value": "sre", "role": "deployer"},
                    {"value": "devs", "role": "deployer", "environments": ["development"]},
                    {"value": "readers", "role": "viewer"},
                ],
                "approvers": [{"group": "release"}],
                "client_id": "pilothouse-cli",
            }
        ]
        monkeypatch.setenv("PILOTHOUSE_OIDC_ISSUERS", json.dumps(config))
        yield iss


@pytest.fixture
def oidc_api(issuer, api):
    return api


def _later(services, seconds: float) -> None:
    """Time passes for the verifier and its key cache (the tokens were minted on the real clock)."""
    import time

    verifier = services.oidc
    verifier._now = verifier.keys._now = lambda: time.time() + seconds


def _refused(oidc_api, token, status, reason_text, path="/v1/components", body=None):
    got, headers, problem = oidc_api.post(path, body or spec("web"), key=token)
    assert got == status, problem
    assert headers["content-type"] == "application/problem+json"
    assert reason_text in problem["detail"], problem
    assert token not in json.dumps(problem)
    records = oidc_api.get("/v1/audit", query="limit=100")[2]["items"]
    assert any(reason_text in (r.get("detail") or "") and r["status"] == status for r in records), records
    return problem


def test_a_valid_token_authenticates_and_audit_names_the_principal(issuer, oidc_api):
    """Given a token of group sre, When it registers a component, Then 201 and the audit record
    names issuer, subject and e-mail (never the token)."""
    token = issuer.mint({"groups": ["sre"], "email": "ana@example.com", "name": "Ana"})
    status, _, body = oidc_api.post("/v1/components", spec("web"), key=token)
    assert status == 201, body
    record = oidc_api.get("/v1/audit", query="operation=register_component")[2]["items"][0]
    assert record["principal"] == f"oidc:{issuer.url}#user-1"
    assert record["actor"]["email"] == "ana@example.com" and record["actor"]["issuer"] == issuer.url
    assert token not in json.dumps(record)


def test_ec_and_eddsa_keys_verify(issuer, oidc_api):
    """Given ES256 and EdDSA keys in the JWKS, When tokens signed with them are presented, Then both pass."""
    issuer.add_key("ES256", "ec-1")
    issuer.add_key("EdDSA", "ed-1")
    for kid in ("ec-1", "ed-1"):
        assert oidc_api.get("/v1/components", key=issuer.mint({"groups": ["readers"]}, kid=kid))[0] == 200


def test_expired_token(issuer, oidc_api):
    _refused(oidc_api, issuer.mint({"groups": ["sre"]}, lifetime=-120), 401, "the token has expired")


def test_not_yet_valid_token(issuer, oidc_api):
    import time

    token = issuer.mint({"groups": ["sre"], "nbf": int(time.time()) + 600})
    _refused(oidc_api, token, 401, "not valid yet")


def test_wrong_issuer(issuer, oidc_api):
    token = issuer.mint({"groups": ["sre"], "iss": "https://evil.example.com"})
    _refused(oidc_api, token, 401, "issuer is not trusted")


def test_wrong_audience(issuer, oidc_api):
    _refused(
        oidc_api, issuer.mint({"groups": ["sre"], "aud": "someone-else"}), 401, "not meant for this service"
    )


def test_alg_none(issuer, oidc_api):
    """Given an unsigned token (alg none) with the right claims, Then 401."""
    good = issuer.mint({"groups": ["sre"]})
    payload = good.split(".")[1]
    token = f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{payload}."
    _refused(oidc_api, token, 401, "must be signed with")


def test_hs256_signed_with_the_public_key(issuer, oidc_api):
    """Given a token HMAC-signed with the issuer's public key (the classic confusion), Then 401."""
    import hashlib
    import hmac

    pem = issuer.keys["rsa-1"].as_pem(private=False)
    header = _b64(json.dumps({"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}).encode())
    payload = issuer.mint({"groups": ["sre"]}).split(".")[1]
    signature = _b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    _refused(oidc_api, f"{header}.{payload}.{signature}", 401, "must be signed with")


def test_unknown_kid_refetches_at_most_once_a_minute(issuer, oidc_api):
    """Given a token signed by a key the issuer never published, When it is presented three times,
    Then 401 each time and the JWKS is fetched once for it (not once per request)."""
    issuer.add_key("RS256", "rogue", publish=False)
    assert oidc_api.get("/v1/components", key=issuer.mint({"groups": ["sre"]}))[0] == 200
    before = issuer.requests.count("/jwks")
    token = issuer.mint({"groups": ["sre"]}, kid="rogue")
    _refused(oidc_api, token, 401, "signing key (kid) is not one of")
    for _ in range(2):
        assert oidc_api.post("/v1/components", spec("web"), key=token)[0] == 401
    assert issuer.requests.count("/jwks") - before <= 1


def test_changed_payload(issuer, oidc_api):
    token = issuer.mint({"groups": ["readers"]})
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["groups"] = ["sre"]
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    _refused(oidc_api, forged, 401, "signature does not verify")


def test_missing_role_claim(issuer, oidc_api):
    _refused(oidc_api, issuer.mint({"email": "x@example.com"}), 403, "grants no Pilothouse role")


def test_a_key_removed_from_the_jwks(issuer, oidc_api, services):
    """Given a token whose key the issuer then removed, When the cached keys expire, Then 401."""
    issuer.add_key("RS256", "rsa-2")
    token = issuer.mint({"groups": ["sre"]}, kid="rsa-2", lifetime=3600)
    assert oidc_api.get("/v1/components", key=token)[0] == 200
    issuer.published.discard("rsa-2")
    assert oidc_api.get("/v1/components", key=token)[0] == 200  # cached keys, a recently verified token
    _later(services, 400)  # past the keys' time-to-live (300 s) and the verified-token memory (30 s)
    _refused(oidc_api, token, 401, "signing key (kid) is not one of")


def test_a_token_for_another_environment(issuer, oidc_api):
    """Given a token whose group is deployer in development only, When it registers a production
    component, Then 403 naming the environment; a development one passes."""
    token = issuer.mint({"groups": ["devs"]})
    problem = _refused(
        oidc_api, token, 403, "only, not for production", body=spec("prod", environment="production")
    )
    assert problem["environment"] == "production"
    assert oidc_api.post("/v1/components", spec("dev"), key=token)[0] == 201
    assert oidc_api.get("/v1/components", key=token)[0] == 200  # a viewer everywhere else


def test_cached_keys_survive_an_unreachable_issuer(issuer, oidc_api, services):
    """Given warm keys, When the issuer goes down and the cache expires, Then known keys still
    pass and an unknown one is refused."""
    good = issuer.mint({"groups": ["readers"]}, lifetime=3600)
    assert oidc_api.get("/v1/components", key=good)[0] == 200
    issuer.down = True
    _later(services, 400)
    fetches = len(issuer.requests)
    assert oidc_api.get("/v1/components", key=good)[0] == 200
    assert len(issuer.requests) == fetches + 1  # it tried the JWKS again, failed, kept its keys
    issuer.add_key("RS256", "new", publish=True)
    fresh = issuer.mint({"groups": ["readers"]}, kid="new", lifetime=3600)
    assert oidc_api.get("/v1/components", key=fresh)[0] == 401


def test_api_keys_still_work_beside_tokens(issuer, oidc_api):
    assert oidc_api.get("/v1/components")[0] == 200


def test_approver_group_and_separate_approver(issuer, oidc_api):
    """Given group release, Then the principal holds deployments:approve (and readers do not)."""
    from pilothouse.domain.identity import principal_from_claims
    from pilothouse.domain.security import Permission
    from pilothouse.settings import get_settings

    config = get_settings().oidc_issuers[0]
    approver = principal_from_claims(config, {"sub": "a", "groups": ["readers", "release"]})
    reader = principal_from_claims(config, {"sub": "b", "groups": ["readers"]})
    assert approver.can(Permission.DEPLOYMENTS_APPROVE) and not reader.can(Permission.DEPLOYMENTS_APPROVE)
    assert approver.id != reader.id and approver.id.startswith(f"oidc:{issuer.url}#")


def test_gateway_authorizer_claims_are_trusted_only_when_configured(issuer, monkeypatch, services):
    """Given claims in the request context as API Gateway's JWT authorizer puts them, Then they
    authenticate only when PILOTHOUSE_OIDC_GATEWAY_AUTHORIZER is true."""
    from pilothouse.api.components import list_components
    from pilothouse.runtime.events import http_event, http_result
    from pilothouse.runtime.http import http_function
    from pilothouse.wiring import reset_services

    handler = http_function(list_components)
    event = http_event("GET", "/v1/components", route_key="GET /v1/components")
    claims = {"iss": issuer.url, "sub": "gw-user", "aud": "pilothouse", "groups": "[readers other]"}
    event["requestContext"]["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    assert http_result(handler(event, None))[0] == 401  # not configured: the context is not trusted
    monkeypatch.setenv("PILOTHOUSE_OIDC_GATEWAY_AUTHORIZER", "true")
    reset_services()
    assert http_result(handler(event, None))[0] == 200


def test_huge_or_deeply_nested_tokens_are_refused_not_crashed(issuer, oidc_api):
    """Given a 20 KiB token and one whose payload nests 5000 lists deep, Then 401, never 500."""
    header = _b64(json.dumps({"alg": "RS256", "kid": "rsa-1"}).encode())
    nested = _b64(b"[" * 5000 + b"]" * 5000)
    _refused(oidc_api, f"{header}.{nested}.c2ln", 401, "not a JWT")
    _refused(oidc_api, f"{header}.{'a' * 20000}.c2ln", 401, "too long")
