"""Who may call the /sfn endpoint: API-key signatures, or the loopback-only local mode."""

from __future__ import annotations

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pilothouse.api.sfn_protocol import SfnError, authenticate
from pilothouse.clock import SystemClock
from pilothouse.domain.security import Role
from pilothouse.embedded.sfn_endpoint import is_loopback, prepare_environment
from pilothouse.settings import Settings


class _Services:
    def __init__(self, **settings: str) -> None:
        self.settings = Settings.from_environ({f"PILOTHOUSE_{k.upper()}": v for k, v in settings.items()})
        self.clock = SystemClock()


class _NoKeys:
    def authenticate(self, services, key):
        from pilothouse.errors import Unauthorized

        raise Unauthorized()


def _event(source_ip: str) -> tuple[dict, bytes]:
    body = b"{}"
    request = AWSRequest(
        method="POST", url="http://127.0.0.1:9/sfn/", data=body, headers={"X-Amz-Target": "x"}
    )
    SigV4Auth(Credentials("anything", "whatever"), "states", "us-east-1").add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:9"
    event = {
        "rawPath": "/sfn/",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "sourceIp": source_ip}},
    }
    return event, body


def test_local_mode_accepts_any_signature_from_loopback_with_the_configured_role():
    event, body = _event("127.0.0.1")
    principal = authenticate(
        _Services(sfn_auth="local", sfn_local_role="operator"), event, body, hooks=_NoKeys()
    )
    assert (principal.id, principal.role) == ("sfn-local:anything", Role.OPERATOR)


def test_local_mode_refuses_other_addresses_and_keys_mode_refuses_unknown_signers():
    event, body = _event("10.1.2.3")
    with pytest.raises(SfnError) as err:
        authenticate(_Services(sfn_auth="local"), event, body, hooks=_NoKeys())
    assert err.value.code == "UnrecognizedClientException"
    event, body = _event("127.0.0.1")
    with pytest.raises(SfnError) as err:
        authenticate(_Services(), event, body, hooks=_NoKeys())  # keys mode: no key, no entry
    assert err.value.code == "UnrecognizedClientException"


def test_local_mode_is_turned_off_off_loopback(monkeypatch):
    monkeypatch.setenv("PILOTHOUSE_SFN_AUTH", "local")
    assert prepare_environment("127.0.0.1") is None
    assert prepare_environment("0.0.0.0") is not None
    import os

    assert os.environ["PILOTHOUSE_SFN_AUTH"] == "keys"
    assert is_loopback("::1") and is_loopback("localhost") and not is_loopback("192.168.1.4")


def test_a_local_caller_is_never_recorded_with_a_secret():
    """Given an API key pasted as the access key id in local mode, only its id is recorded."""
    from pilothouse.api.sfn_protocol import _local_name

    assert _local_name("ph_0123456789ab_secret-part-here") == "0123456789ab"
    assert _local_name("AKIDEXAMPLE") == "AKIDEXAMPLE"
    assert _local_name("has/slash") == "unnamed" and _local_name("x" * 100) == "unnamed"
