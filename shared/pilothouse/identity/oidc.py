"""Verification of OpenID Connect bearer tokens (JWS compact JWTs) from the trusted issuers.

A token is accepted only when all of these hold, checked in this order (each refusal is a 401
naming the reason, never the token):

1. it is at most 16 KiB, three base64url parts, its header JSON with an ``alg`` that the issuer
   allows (RS256, ES256, EdDSA; ``none`` and HMAC never);
2. its ``iss`` is a trusted issuer, exactly;
3. its ``kid`` names a key of that issuer's JWKS (:mod:`pilothouse.identity.jwks`);
4. the signature verifies with that key and the header's algorithm (joserfc);
5. ``aud`` names the issuer's audience; ``exp`` is in the future and ``nbf``/``iat`` not in the
   future, each within the issuer's clock skew.

The claims then become a principal (:func:`pilothouse.domain.identity.principal_from_claims`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from pilothouse.domain.identity import OidcIssuer
from pilothouse.errors import Unauthorized
from pilothouse.identity.jwks import Fetch, KeyCache

MAX_TOKEN_BYTES = 16 * 1024
#: a token verified once is taken as verified again for this long (at most until it expires):
#: the signature check is the cost of a request, and a client sends one token many times
VERIFIED_SECONDS = 30.0
VERIFIED_MAX = 4096


def _b64json(part: str) -> dict[str, Any] | None:
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):  # RecursionError: a deeply nested payload
        return None
    return value if isinstance(value, dict) else None


def looks_like_jwt(token: str) -> bool:
    """Whether a presented credential is meant as a JWT (API keys read ``ph_<id>_<secret>``)."""
    return token.count(".") == 2 and not token.startswith("ph_")


class TokenRefused(Unauthorized):
    """A bearer token that does not authenticate; ``reason`` is a short code for audit and tests."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.extra = {"reason": reason}


class OidcVerifier:
    """Verifies bearer tokens from ``issuers``; keys fetched with ``fetch``, time from ``now``."""

    def __init__(self, issuers: tuple[OidcIssuer, ...], *, fetch: Fetch, now: Callable[[], float]) -> None:
        self.keys = KeyCache(issuers, fetch=fetch, now=now)
        self._now = now
        #: token -> (issuer, claims, verified until): recently verified tokens
        self._verified: dict[str, tuple[OidcIssuer, dict[str, Any], float]] = {}

    def verify(self, token: str) -> tuple[OidcIssuer, dict[str, Any]]:
        """The issuer and the claims of a valid token; :class:`TokenRefused` otherwise.

        A token verified in the last :data:`VERIFIED_SECONDS` (and not expired since) is answered
        from memory: a key removed from the JWKS stops working for it that much later at most."""
        hit = self._verified.get(token)
        if hit is not None and self._now() < hit[2]:
            return hit[0], hit[1]
        config, claims = self._verify(token)
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()
        self._verified[token] = (config, claims, min(float(claims["exp"]), self._now() + VERIFIED_SECONDS))
        return config, claims

    def _verify(self, token: str) -> tuple[OidcIssuer, dict[str, Any]]:
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRefused("malformed", "the bearer token is too long")
        parts = token.split(".")
        header = _b64json(parts[0]) if len(parts) == 3 else None
        unverified = _b64json(parts[1]) if header is not None else None
        if header is None or unverified is None:
            raise TokenRefused("malformed", "the bearer token is not a JWT")
        iss = unverified.get("iss")
        config = self.keys.issuer(iss) if isinstance(iss, str) else None
        if config is None:
            raise TokenRefused("untrusted-issuer", "the token's issuer is not trusted here")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in config.algorithms:
            raise TokenRefused(
                "algorithm-not-allowed",
                f"tokens of this issuer must be signed with {', '.join(config.algorithms)}",
            )
        kid = header.get("kid")
        key = self.keys.key(config.issuer, kid if isinstance(kid, str) else None)
        if key is None:
            raise TokenRefused("unknown-key", "the token's signing key (kid) is not one of the issuer's keys")
        claims = _verified_claims(token, key, alg)
        self._check_claims(config, claims)
        return config, claims

    def _check_claims(self, config: OidcIssuer, claims: dict[str, Any]) -> None:
        if claims.get("iss") != config.issuer:  # the signed payload, not the unverified one
            raise TokenRefused("untrusted-issuer", "the token's issuer is not trusted here")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if config.audience not in audiences:
            raise TokenRefused("wrong-audience", "the token is not meant for this service (aud)")
        now, skew = self._now(), config.clock_skew_seconds
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise TokenRefused("expired", "the token has no expiry (exp)")
        if exp + skew <= now:
            raise TokenRefused("expired", "the token has expired")
        for name in ("nbf", "iat"):
            value = claims.get(name)
            if value is not None and (not _number(value) or value - skew > now):
                raise TokenRefused("not-yet-valid", f"the token is not valid yet ({name})")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _verified_claims(token: str, key: Any, alg: str) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.errors import JoseError

    try:
        decoded = jwt.decode(token, key, algorithms=[alg])
    except (JoseError, ValueError, TypeError):
        raise TokenRefused("bad-signature", "the token's signature does not verify") from None
    claims = decoded.claims
    if not isinstance(claims, dict):
        raise TokenRefused("malformed", "the token's payload is not a JSON object")
    return claims
