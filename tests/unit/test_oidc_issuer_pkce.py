"""The local test issuer's authorization-code + PKCE flow refuses what a real issuer refuses
(the browser test in tests/e2e/test_dashboard_browser.py relies on it). Loopback only."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.oidc_issuer import LocalIssuer, s256

REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
def iss():
    with LocalIssuer() as issuer:
        issuer.redirect_uris = {REDIRECT}
        yield issuer


def authorize(iss: LocalIssuer, verifier: str, **extra: str) -> httpx.Response:
    query = {
        "response_type": "code",
        "client_id": "pilothouse",
        "redirect_uri": REDIRECT,
        "state": "st-1",
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        **extra,
    }
    return httpx.get(iss.url + "/authorize", params=query, timeout=10)


def code_of(answer: httpx.Response) -> str:
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["st-1"]
    return query["code"][0]


def redeem(iss: LocalIssuer, code: str, verifier: str, /, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "pilothouse",
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        **extra,
    }
    return httpx.post(iss.url + "/token", data=form, timeout=10)


def test_right_verifier_gets_signed_tokens_once(iss):
    verifier = secrets.token_urlsafe(48)
    code = code_of(authorize(iss, verifier))
    answer = redeem(iss, code, verifier)
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert answer.json()["id_token"].count(".") == 2 and answer.json()["token_type"] == "Bearer"
    # the same code again is refused
    assert redeem(iss, code, verifier).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"code_verifier": secrets.token_urlsafe(32)}, "code_verifier does not match"),
        ({"code_verifier": "short"}, "code_verifier does not match"),
        ({"redirect_uri": "http://127.0.0.1:9/elsewhere"}, "redirect_uri does not match"),
        ({"client_id": "someone-else"}, "client_id does not match"),
        ({"code": "forged"}, "unknown, used or expired code"),
    ],
)
def test_mismatches_are_refused_and_spend_the_code(iss, extra, reason):
    verifier = secrets.token_urlsafe(32)
    code = code_of(authorize(iss, verifier))
    answer = redeem(iss, code, verifier, **extra)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert reason in answer.json()["error_description"]
    assert iss.issued == []
    # a wrong attempt spends the code; a forged code leaves the real one redeemable
    assert redeem(iss, code, verifier).status_code == (200 if "code" in extra else 400)


def test_authorize_refuses_unregistered_redirect_and_plain_pkce(iss):
    verifier = secrets.token_urlsafe(32)
    bad = authorize(iss, verifier, redirect_uri="http://127.0.0.1:9/steal")
    assert bad.status_code == 400 and "location" not in bad.headers
    plain = authorize(iss, verifier, code_challenge_method="plain")
    assert plain.status_code == 302
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]
    assert iss.codes == {}
