"""Checking an AWS Signature Version 4 ``Authorization`` header on a request we received.

The signature is computed as the AWS documentation defines it (canonical request → string to sign →
the date/region/service-scoped signing key → HMAC-SHA256) and compared in constant time:

    auth = parse_authorization(headers["authorization"])          # SignatureError if malformed
    verify(auth, secret, method="POST", path="/sfn/", query="", headers=headers, body=body, now=now)

Only what an SDK sends in a header is supported (no presigned query strings, no chunked payloads).
Headers come lower-cased, as the gateway's payload-2.0 events carry them.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
#: how far a request's X-Amz-Date may be from our clock (AWS allows 15 minutes)
MAX_SKEW_SECONDS = 15 * 60
_FIELD = re.compile(r"\s*(Credential|SignedHeaders|Signature)=([^,\s]*)\s*")
_SPACES = re.compile(r"\s+")


class SignatureError(Exception):
    """The header is missing, malformed, stale, or its signature does not match; ``code`` is the
    AWS error type a caller gets (``MissingAuthenticationToken``, ``IncompleteSignature``,
    ``InvalidSignatureException``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Authorization:
    access_key_id: str
    date: str  # YYYYMMDD
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def parse_authorization(value: str | None) -> Authorization:
    """The parts of an ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`` header."""
    if not value:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise SignatureError(
            "IncompleteSignatureException", f"unsupported signature algorithm; use {ALGORITHM}"
        )
    fields: dict[str, str] = {}
    for part in rest.split(","):
        m = _FIELD.fullmatch(part)
        if m is None:
            raise SignatureError("IncompleteSignatureException", "the Authorization header is malformed")
        fields[m.group(1)] = m.group(2)
    if set(fields) != {"Credential", "SignedHeaders", "Signature"}:
        raise SignatureError(
            "IncompleteSignatureException", "Authorization needs Credential, SignedHeaders and Signature"
        )
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise SignatureError(
            "IncompleteSignatureException",
            "Credential must read <access key id>/<YYYYMMDD>/<region>/<service>/aws4_request",
        )
    signed = tuple(fields["SignedHeaders"].split(";"))
    if "host" not in signed or any(h != h.lower() or not h for h in signed):
        raise SignatureError(
            "IncompleteSignatureException", "SignedHeaders must be lower case and include host"
        )
    if not re.fullmatch(r"[0-9a-f]{64}", fields["Signature"]):
        raise SignatureError("IncompleteSignatureException", "Signature must be 64 hexadecimal digits")
    return Authorization(scope[0], scope[1], scope[2], scope[3], signed, fields["Signature"])


def _canonical_path(path: str) -> str:
    # as SDKs sign it: the decoded path, dot segments removed, each segment URI-encoded once
    segments: list[str] = []
    for seg in unquote(path or "/").split("/"):
        if seg == "..":
            if segments:
                segments.pop()
        elif seg not in (".",):
            segments.append(seg)
    out = "/".join(segments)
    if not out.startswith("/"):
        out = "/" + out
    return quote(out, safe="/~")


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def canonical_request(
    auth: Authorization, method: str, path: str, query: str, headers: dict[str, str], body: bytes
) -> str:
    lines = []
    for name in auth.signed_headers:
        if name not in headers:
            raise SignatureError("IncompleteSignatureException", f"signed header {name!r} is missing")
        lines.append(f"{name}:{_SPACES.sub(' ', headers[name].strip())}\n")
    return "\n".join(
        [
            method.upper(),
            _canonical_path(path),
            _canonical_query(query),
            "".join(lines),
            ";".join(auth.signed_headers),
            headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest(),
        ]
    )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def request_time(headers: dict[str, str]) -> tuple[str, float]:
    """The ``X-Amz-Date`` (``YYYYMMDDTHHMMSSZ``) of a request and its epoch seconds."""
    stamp = headers.get("x-amz-date", "")
    try:
        parsed = time.strptime(stamp, "%Y%m%dT%H%M%SZ")
    except ValueError:
        raise SignatureError(
            "IncompleteSignatureException", "X-Amz-Date must read YYYYMMDDTHHMMSSZ"
        ) from None
    return stamp, float(calendar.timegm(parsed))


def check_fresh(auth: Authorization, headers: dict[str, str], now: float) -> str:
    """The request's timestamp, if it is within :data:`MAX_SKEW_SECONDS` of ``now`` and matches the
    credential scope's date; otherwise a :class:`SignatureError`."""
    stamp, epoch = request_time(headers)
    if not stamp.startswith(auth.date):
        raise SignatureError("InvalidSignatureException", "the credential scope's date is not X-Amz-Date's")
    if abs(epoch - now) > MAX_SKEW_SECONDS:
        raise SignatureError(
            "InvalidSignatureException",
            f"Signature expired: {stamp} is more than {MAX_SKEW_SECONDS // 60} minutes from the "
            "server's time",
        )
    return stamp


def signature(
    auth: Authorization,
    secret: str,
    *,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    stamp: str,
) -> str:
    """The signature ``secret`` makes for this request (hex)."""
    digest = hashlib.sha256(canonical_request(auth, method, path, query, headers, body).encode()).hexdigest()
    to_sign = f"{ALGORITHM}\n{stamp}\n{auth.scope}\n{digest}"
    key = _hmac(f"AWS4{secret}".encode(), auth.date)
    for part in (auth.region, auth.service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify(
    auth: Authorization,
    secret: str,
    *,
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    now: float,
) -> None:
    """Raise :class:`SignatureError` unless ``auth`` is a fresh signature of this request by ``secret``."""
    stamp = check_fresh(auth, headers, now)
    expected = signature(
        auth, secret, method=method, path=path, query=query, headers=headers, body=body, stamp=stamp
    )
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. Check your "
            "AWS Secret Access Key and signing method.",
        )
