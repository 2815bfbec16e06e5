"""``pilothouse login`` / ``logout``: the device authorization grant against a local issuer."""

from __future__ import annotations

import json
import stat
import threading
import time

import pytest
from typer.testing import CliRunner

from pilothouse.cli import tokens
from pilothouse.cli.main import app
from tests.support.oidc_issuer import LocalIssuer

API = "http://pilothouse.test"


@pytest.fixture
def issuer(tmp_path, monkeypatch, loopback_only):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PILOTHOUSE_URL", API)
    monkeypatch.delenv("PILOTHOUSE_API_KEY", raising=False)
    with LocalIssuer() as iss:
        yield iss


def _approve_when_asked(issuer: LocalIssuer, claims: dict) -> threading.Thread:
    def run() -> None:
        for _ in range(200):
            if issuer.devices:
                user_code = next(iter(issuer.devices.values()))["user_code"]
                issuer.approve(user_code, claims)
                return
            time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_login_keeps_the_token_0600_and_logout_forgets_it(issuer):
    """Given a local issuer, When the user runs login and approves the code, Then the token is kept
    for the API URL in a 0600 file, used as the bearer, and logout removes it."""
    thread = _approve_when_asked(issuer, {"sub": "ana", "groups": ["sre"]})
    result = CliRunner().invoke(app, ["login", "--issuer", issuer.url, "--client-id", "pilothouse-cli"])
    thread.join()
    assert result.exit_code == 0, result.output
    assert "enter the code" in result.output and "Signed in" in result.output
    path = tokens.tokens_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    kept = json.loads(path.read_text())[API]
    assert kept["access_token"].count(".") == 2 and kept["refresh_token"]
    assert kept["access_token"] not in result.output  # never printed
    assert tokens.bearer_for(API) == kept["access_token"]
    result = CliRunner().invoke(app, ["logout"])
    assert result.exit_code == 0 and API in result.output
    assert tokens.bearer_for(API) is None


def test_an_expiring_token_is_refreshed(issuer):
    """Given a kept token about to expire, When a command needs it, Then it is refreshed first."""
    answer = issuer._tokens({"sub": "ana"}, lifetime=10)
    tokens.save(API, tokens.entry_from(answer, issuer.url + "/token", "pilothouse-cli"))
    fresh = tokens.bearer_for(API)
    assert fresh and fresh != answer["access_token"]
    assert json.loads(tokens.tokens_path().read_text())[API]["access_token"] == fresh


def test_a_failed_refresh_asks_to_log_in_again(issuer):
    """Given a kept token whose refresh token the issuer no longer honours, Then an error says
    to log in, and the token is forgotten."""
    tokens.save(
        API,
        {
            "access_token": "x.y.z",
            "refresh_token": "revoked",
            "expires_at": time.time() - 1,
            "token_endpoint": issuer.url + "/token",
            "client_id": "pilothouse-cli",
        },
    )
    with pytest.raises(tokens.InputError, match="login"):
        tokens.bearer_for(API)
    assert tokens.load_all() == {}


def test_login_declined_or_unknown_client(issuer):
    """Given a client id the issuer does not know, Then login fails with the issuer's error."""
    result = CliRunner().invoke(app, ["login", "--issuer", issuer.url, "--client-id", "nobody"])
    assert result.exit_code != 0 and "invalid_client" in result.output
