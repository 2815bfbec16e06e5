"""No secret (API key, bearer token, its signature) ever lands in a stored record, an audit record,
a log line or a problem answer (issue 18 §4), whatever the security suite throws at the API."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.oidc_issuer import LocalIssuer
from tests.support.specs import spec


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # pragma: no cover - a line that cannot be formatted is still kept raw
            self.lines.append(str(record.__dict__))


@pytest.fixture
def issuer(env, monkeypatch, loopback_only):
    with LocalIssuer() as iss:
        config = [
            {"issuer": iss.url, "audience": "pilothouse", "roles": [{"value": "sre", "role": "deployer"}]}
        ]
        monkeypatch.setenv("PILOTHOUSE_OIDC_ISSUERS", json.dumps(config))
        yield iss


@pytest.fixture
def capture():
    from pilothouse.runtime.logs import logger

    handler = _Capture()
    handler.setFormatter(logger.registered_formatter)
    root = logging.getLogger()
    level, inner_level = root.level, logger._logger.level
    root.addHandler(handler)
    logger._logger.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logger._logger.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    logger._logger.removeHandler(handler)
    root.setLevel(level)
    logger._logger.setLevel(inner_level)


def _secrets_of_token(token: str) -> list[str]:
    parts = token.split(".")
    return [token, *(p for p in parts[2:] if len(p) > 16)]


def test_the_security_suite_leaves_no_secret_behind(issuer, capture, api, services, env):
    """Given keys made, used, forged, replayed and revoked, and good and bad bearer tokens, When
    every answer, audit record, stored item and log line is read, Then none holds a secret."""
    secrets: list[str] = [api.key]
    answers: list[str] = []

    def call(method, path, body=None, **kw):
        status, headers, data = api.call(method, path, body, **kw)
        answers.append(json.dumps(data) + json.dumps(dict(headers)))
        return status, data

    status, created = call(
        "POST", "/v1/api-keys", {"name": "ci", "role": "deployer"}, headers={"Idempotency-Key": "k1"}
    )
    assert status == 201
    secret = created["key"]
    secrets.append(secret)
    answers.pop()  # the one answer that shows the secret, once, by design
    assert (
        call("POST", "/v1/api-keys", {"name": "ci", "role": "deployer"}, headers={"Idempotency-Key": "k1"})[0]
        == 201
    )
    assert call("POST", "/v1/components", spec("web"), key=secret)[0] == 201
    forged = secret.rsplit("_", 1)[0] + "_" + "x" * 32
    secrets.append(forged)
    assert call("POST", "/v1/components", spec("a"), key=forged)[0] == 401
    assert call("GET", "/v1/components", key=None, headers={"X-Api-Key": forged})[0] == 401
    assert call("DELETE", f"/v1/api-keys/{created['id']}")[0] == 200
    assert call("POST", "/v1/components", spec("b"), key=secret)[0] == 401

    good = issuer.mint({"groups": ["sre"], "email": "ana@example.com"})
    expired = issuer.mint({"groups": ["sre"]}, lifetime=-600)
    readers = issuer.mint({"groups": ["nobody"]})
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload}x.{signature}"
    none_alg = f"eyJhbGciOiJub25lIn0.{payload}."
    for token in (good, expired, readers, tampered):
        secrets.extend(_secrets_of_token(token))
    assert call("POST", "/v1/components", spec("c"), key=good)[0] == 201
    for bad in (expired, tampered, none_alg):
        assert call("POST", "/v1/components", spec("d"), key=bad)[0] == 401
    assert call("POST", "/v1/components", spec("e"), key=readers)[0] == 403
    assert call("POST", "/v1/components", "{not json", key=good)[0] in (400, 422)

    exported = api.get("/v1/audit/export", query="limit=1000")[2]["items"]
    assert len(exported) >= 8
    places = {
        "answers": "\n".join(answers),
        "audit": "\n".join(json.dumps(r) for r in exported),
        "logs": "\n".join(capture.lines),
        "store": "\n".join(
            path.read_bytes().decode("latin-1") for path in (env / "data").rglob("*") if path.is_file()
        ),
    }
    # the places are really read: what is not secret is found there
    assert "ana@example.com" in places["audit"] and created["id"] in places["store"]
    for where, text in places.items():
        for value in secrets:
            assert value not in text, f"a secret ({value[:12]}...) is in the {where}"
