"""SigV4 verification (runtime.sigv4) against requests botocore signs."""

from __future__ import annotations

import calendar
import time

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from pilothouse.runtime import sigv4


def _signed(secret: str = "s3cret", path: str = "/sfn/", body: bytes = b'{"a":1}', token: str | None = None):
    request = AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:8080{path}",
        data=body,
        headers={
            "X-Amz-Target": "AWSStepFunctions.ListStateMachines",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    SigV4Auth(Credentials("AKID", secret, token), "states", "us-east-1").add_auth(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    headers["host"] = "127.0.0.1:8080"
    return headers, body


def _now(headers) -> float:
    return float(calendar.timegm(time.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")))


def test_a_botocore_signature_verifies_with_its_secret():
    # Given a request botocore signed; When verified with the same secret; Then it passes
    headers, body = _signed(token="tok")
    auth = sigv4.parse_authorization(headers["authorization"])
    assert (auth.access_key_id, auth.region, auth.service) == ("AKID", "us-east-1", "states")
    assert "x-amz-security-token" in auth.signed_headers
    sigv4.verify(
        auth, "s3cret", method="POST", path="/sfn/", query="", headers=headers, body=body, now=_now(headers)
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda h, b: (h, b + b" "),  # the body changed
        lambda h, b: ({**h, "x-amz-target": "AWSStepFunctions.DeleteStateMachine"}, b),  # a signed header
    ],
)
def test_a_changed_request_or_another_secret_fails(change):
    headers, body = _signed()
    auth = sigv4.parse_authorization(headers["authorization"])
    with pytest.raises(sigv4.SignatureError) as err:
        sigv4.verify(
            auth,
            "other",
            method="POST",
            path="/sfn/",
            query="",
            headers=headers,
            body=body,
            now=_now(headers),
        )
    assert err.value.code == "InvalidSignatureException"
    h2, b2 = change(headers, body)
    with pytest.raises(sigv4.SignatureError):
        sigv4.verify(
            auth, "s3cret", method="POST", path="/sfn/", query="", headers=h2, body=b2, now=_now(headers)
        )


def test_a_stale_signature_is_refused():
    headers, body = _signed()
    auth = sigv4.parse_authorization(headers["authorization"])
    with pytest.raises(sigv4.SignatureError, match="expired"):
        sigv4.verify(
            auth,
            "s3cret",
            method="POST",
            path="/sfn/",
            query="",
            headers=headers,
            body=body,
            now=_now(headers) + 3600,
        )


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "Bearer x",
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request",
        "AWS4-HMAC-SHA256 Credential=a/b/c/aws4_request, SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=zz",
    ],
)
def test_malformed_headers_are_refused_with_aws_codes(value):
    with pytest.raises(sigv4.SignatureError) as err:
        sigv4.parse_authorization(value)
    assert err.value.code in ("MissingAuthenticationTokenException", "IncompleteSignatureException")
