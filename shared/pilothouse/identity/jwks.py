"""An issuer's signing keys: discovery and JWKS fetched lazily through the outbound guard, cached.

The rules (issue 18 §1):

* nothing is fetched until a token of the issuer arrives;
* fetched keys are used for ``jwks_ttl_seconds``, then fetched again (a key the issuer removed
  stops working then);
* a token with an unknown ``kid`` refetches, at most once a minute per issuer (a flood of forged
  ``kid`` values cannot turn into a flood of requests to the issuer);
* while the issuer is unreachable the cached keys keep working; an unknown key is refused.

Only asymmetric keys (RSA, EC, OKP) are kept: an ``oct`` key in a JWKS is ignored, so an HMAC
token can never find a key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pilothouse.domain.identity import OidcIssuer
from pilothouse.net.outbound import OutboundPolicy, OutboundRefused, check_url
from pilothouse.net.outbound import request as outbound_request

#: the least time between two fetches of one issuer's keys that a token's unknown kid may cause
REFETCH_INTERVAL = 60.0
MAX_DOCUMENT_BYTES = 256 * 1024
ASYMMETRIC = frozenset({"RSA", "EC", "OKP"})

Fetch = Callable[[str], dict[str, Any]]


class KeysUnavailable(Exception):
    """The issuer's discovery document or JWKS could not be fetched or read (why: ``args[0]``)."""


def guarded_fetch(policy: OutboundPolicy, timeout: float = 5.0) -> Fetch:
    """GET a JSON document through the outbound guard (no redirects, bounded body)."""

    def fetch(url: str) -> dict[str, Any]:
        try:
            response = outbound_request(
                "GET",
                url,
                policy=policy,
                timeout=timeout,
                headers={"Accept": "application/json"},
                max_body_bytes=MAX_DOCUMENT_BYTES,
            )
        except OutboundRefused as exc:
            raise KeysUnavailable(f"{url} may not be requested: {exc.reason}") from None
        except Exception as exc:  # httpx's transport errors: the issuer is unreachable
            raise KeysUnavailable(f"{url} is unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise KeysUnavailable(f"{url} answered {response.status_code}")
        try:
            data = json.loads(response.content)
        except ValueError:
            raise KeysUnavailable(f"{url} did not answer JSON") from None
        if not isinstance(data, dict):
            raise KeysUnavailable(f"{url} did not answer a JSON object")
        return data

    return fetch


@dataclass
class IssuerKeys:
    """The cached keys of one issuer (``keys``: kid → public JWK as a dict)."""

    config: OidcIssuer
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None
    attempted_at: float | None = None
    jwks_uri: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: the parsed keys (joserfc objects), kid → key, rebuilt on each fetch
    parsed: dict[str, Any] = field(default_factory=dict)


class KeyCache:
    """Signing keys per trusted issuer, fetched with ``fetch`` on the ``clock``'s time."""

    def __init__(self, issuers: tuple[OidcIssuer, ...], *, fetch: Fetch, now: Callable[[], float]) -> None:
        self._issuers = {i.issuer: IssuerKeys(i) for i in issuers}
        self._fetch = fetch
        self._now = now

    def issuer(self, iss: str) -> OidcIssuer | None:
        state = self._issuers.get(iss)
        return state.config if state else None

    def key(self, iss: str, kid: str | None) -> Any | None:
        """The parsed public key ``kid`` of issuer ``iss`` (None: no such key, even after a refetch)."""
        state = self._issuers[iss]
        now = self._now()
        stale = state.fetched_at is None or now - state.fetched_at >= state.config.jwks_ttl_seconds
        if stale or (kid not in state.parsed and self._may_refetch(state, now)):
            self._refresh(state, now)
        if kid is None and len(state.parsed) == 1:
            return next(iter(state.parsed.values()))  # a JWKS of one key may be used without kid
        return state.parsed.get(kid) if kid is not None else None

    def _may_refetch(self, state: IssuerKeys, now: float) -> bool:
        return state.attempted_at is None or now - state.attempted_at >= REFETCH_INTERVAL

    def _refresh(self, state: IssuerKeys, now: float) -> None:
        with state.lock:
            if not self._may_refetch(state, now):
                return  # another thread fetched (or tried) within the minute
            state.attempted_at = now
            try:
                keys = self._download(state)
            except KeysUnavailable:
                return  # the cached keys (if any) keep working
            state.keys, state.parsed, state.fetched_at = keys, _parse(keys), now

    def _download(self, state: IssuerKeys) -> dict[str, dict[str, Any]]:
        issuer = state.config.issuer
        if state.jwks_uri is None:
            discovery = self._fetch(issuer.rstrip("/") + "/.well-known/openid-configuration")
            if discovery.get("issuer") != issuer:
                raise KeysUnavailable("the discovery document names another issuer")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise KeysUnavailable("the discovery document names no jwks_uri")
            try:
                check_url(jwks_uri, OutboundPolicy())  # shape only; the fetch applies the policy
            except OutboundRefused as exc:
                raise KeysUnavailable(f"jwks_uri refused: {exc.reason}") from None
            state.jwks_uri = jwks_uri
        document = self._fetch(state.jwks_uri)
        entries = document.get("keys")
        if not isinstance(entries, list):
            raise KeysUnavailable("the JWKS has no keys list")
        keys: dict[str, dict[str, Any]] = {}
        for entry in entries[:100]:
            if (
                isinstance(entry, dict)
                and entry.get("kty") in ASYMMETRIC
                and entry.get("use", "sig") == "sig"
            ):
                public = {k: v for k, v in entry.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
                keys[str(entry.get("kid", ""))] = public
        return keys


def _parse(keys: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from joserfc.jwk import import_key

    parsed: dict[str, Any] = {}
    for kid, jwk in keys.items():
        try:
            parsed[kid] = import_key(jwk)
        except Exception:  # a key this library cannot read cannot verify anything: skip it
            continue
    return parsed
