"""A local OpenID Connect issuer for the tests, on 127.0.0.1 and a free port.

It serves discovery (``/.well-known/openid-configuration``), the JWKS (``/jwks``), the device
authorization endpoint (``/device``), the authorization endpoint (``/authorize``: the
authorization-code flow with PKCE S256, signing in a fixed test user, ``login_claims``) and the token
endpoint (``/token``: the device-code, authorization-code and refresh grants), with keys made by
joserfc (RS256, ES256 and EdDSA). Answers carry ``Access-Control-Allow-Origin: *`` as a real issuer's
do for browser clients. Tests mint tokens with :meth:`LocalIssuer.mint`, rotate or remove keys,
approve a device code, or take the issuer down.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
#: RFC 7636 section 4.1: 43 to 128 unreserved characters
VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


def s256(verifier: str) -> str:
    """The S256 code challenge of ``verifier`` (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def make_key(alg: str, kid: str) -> Any:
    """A private signing key for ``alg`` with key id ``kid``."""
    params = {"kid": kid, "use": "sig", "alg": alg}
    if alg == "RS256":
        return RSAKey.generate_key(2048, parameters=params)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=params)
    return OKPKey.generate_key("Ed25519", parameters=params)


class LocalIssuer:
    """The issuer; ``url`` is its ``iss``. Use as a context manager (the server stops on exit)."""

    def __init__(self, audience: str = "pilothouse", client_id: str = "pilothouse-cli") -> None:
        self.audience = audience
        self.client_id = client_id
        self.keys: dict[str, Any] = {"rsa-1": make_key("RS256", "rsa-1")}
        self.published: set[str] = {"rsa-1"}
        self.down = False
        self.requests: list[str] = []
        self.devices: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.default_claims: dict[str, Any] = {}
        #: the browser client of the authorization-code flow, its registered redirect URIs, and
        #: the claims of the fixed test user who signs in at ``/authorize``
        self.web_client_id = audience
        self.redirect_uris: set[str] = set()
        self.login_claims: dict[str, Any] = {"sub": "user-1"}
        #: authorization codes not yet redeemed; tokens answered by the code grant; its refusals
        self.codes: dict[str, dict[str, Any]] = {}
        self.issued: list[str] = []
        self.refusals: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalIssuer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- keys and tokens ---------------------------------------------------------------------------
    def add_key(self, alg: str, kid: str, *, publish: bool = True) -> None:
        self.keys[kid] = make_key(alg, kid)
        if publish:
            self.published.add(kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.keys[k].as_dict(private=False) for k in sorted(self.published)]}

    def mint(
        self,
        claims: dict[str, Any] | None = None,
        *,
        kid: str = "rsa-1",
        alg: str | None = None,
        lifetime: float = 300,
        header: dict[str, Any] | None = None,
    ) -> str:
        """A signed token: default claims (iss, aud, sub, iat, exp) updated with ``claims``."""
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": self.audience,
            "sub": "user-1",
            "iat": now,
            "exp": now + int(lifetime),
            **self.default_claims,
            **(claims or {}),
        }
        key = self.keys[kid]
        hdr = {"alg": alg or key.alg or "RS256", "kid": kid, "typ": "JWT", **(header or {})}
        return jwt.encode(hdr, body, key, algorithms=[hdr["alg"]])

    # -- device authorization ----------------------------------------------------------------------
    def approve(self, user_code: str, claims: dict[str, Any]) -> None:
        """The user signs in and approves the device code shown as ``user_code``."""
        for device in self.devices.values():
            if device["user_code"] == user_code:
                device["claims"] = claims

    def _tokens(self, claims: dict[str, Any], lifetime: float = 300) -> dict[str, Any]:
        refresh = secrets.token_urlsafe(24)
        self.refresh_tokens[refresh] = claims
        return {
            "access_token": self.mint(claims, lifetime=lifetime),
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": int(lifetime),
        }

    # -- authorization code + PKCE ----------------------------------------------------------------
    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, Any] | str]:
        """``/authorize``: a redirect (302, its location) back with a code for the test user, or
        an error. A bad client or redirect URI is answered here, never redirected to."""
        if query.get("client_id") != self.web_client_id:
            return 400, {"error": "invalid_client"}
        redirect = query.get("redirect_uri", "")
        if redirect not in self.redirect_uris:
            return 400, {"error": "invalid_request", "error_description": "redirect_uri not registered"}
        state = {"state": query["state"]} if "state" in query else {}
        challenge = query.get("code_challenge", "")
        s256_ok = re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge) is not None
        if query.get("response_type") != "code":
            error = {"error": "unsupported_response_type"}
        elif query.get("code_challenge_method") != "S256" or not s256_ok:
            error = {"error": "invalid_request", "error_description": "PKCE S256 code_challenge required"}
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = {
                "client_id": self.web_client_id,
                "redirect_uri": redirect,
                "challenge": challenge,
                "claims": dict(self.login_claims),
                "expires": time.monotonic() + 60,
            }
            return 302, f"{redirect}?{urlencode({'code': code, **state})}"
        return 302, f"{redirect}?{urlencode({**error, **state})}"

    def _code_grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        # the code is spent by any attempt, right or wrong (RFC 6749 section 4.1.2)
        grant = self.codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        if grant is None or grant["expires"] < time.monotonic():
            reason = "unknown, used or expired code"
        elif form.get("client_id") != grant["client_id"]:
            reason = "client_id does not match the code"
        elif form.get("redirect_uri") != grant["redirect_uri"]:
            reason = "redirect_uri does not match the code"
        elif not VERIFIER.match(verifier) or not secrets.compare_digest(s256(verifier), grant["challenge"]):
            reason = "code_verifier does not match the code_challenge"
        else:
            claims = {"aud": grant["client_id"], **grant["claims"]}
            answer = self._tokens(claims)
            answer["id_token"] = self.mint(claims)
            self.issued += [answer["id_token"], answer["access_token"], answer["refresh_token"]]
            return 200, answer
        self.refusals.append(reason)
        return 400, {"error": "invalid_grant", "error_description": reason}

    def _token_endpoint(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") == "authorization_code":
            return self._code_grant(form)
        if form.get("client_id") != self.client_id:
            return 401, {"error": "invalid_client"}
        grant = form.get("grant_type")
        if grant == DEVICE_GRANT:
            device = self.devices.get(form.get("device_code", ""))
            if device is None:
                return 400, {"error": "expired_token"}
            if device.get("claims") is None:
                return 400, {"error": "authorization_pending"}
            del self.devices[form["device_code"]]
            return 200, self._tokens(device["claims"], device.get("lifetime", 300))
        if grant == "refresh_token":
            claims = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if claims is None:
                return 400, {"error": "invalid_grant"}
            return 200, self._tokens(claims)
        return 400, {"error": "unsupported_grant_type"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                url = urlsplit(self.path)
                if issuer.down:
                    self._send(503, {"error": "down"})
                elif url.path == "/authorize":
                    query = {k: v[0] for k, v in parse_qs(url.query).items()}
                    status, answer = issuer.authorize(query)
                    if isinstance(answer, str):
                        self.send_response(status)
                        self.send_header("Location", answer)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                    else:
                        self._send(status, answer)
                elif self.path == "/.well-known/openid-configuration":
                    self._send(
                        200,
                        {
                            "issuer": issuer.url,
                            "jwks_uri": issuer.url + "/jwks",
                            "token_endpoint": issuer.url + "/token",
                            "authorization_endpoint": issuer.url + "/authorize",
                            "response_types_supported": ["code"],
                            "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT],
                            "code_challenge_methods_supported": ["S256"],
                            "device_authorization_endpoint": issuer.url + "/device",
                            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
                        },
                    )
                elif self.path == "/jwks":
                    self._send(200, issuer.jwks())
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self) -> None:
                issuer.requests.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if issuer.down:
                    self._send(503, {"error": "down"})
                elif self.path == "/device":
                    device_code = secrets.token_urlsafe(16)
                    user_code = secrets.token_hex(4).upper()
                    issuer.devices[device_code] = {"user_code": user_code, "claims": None}
                    self._send(
                        200,
                        {
                            "device_code": device_code,
                            "user_code": user_code,
                            "verification_uri": issuer.url + "/activate",
                            "verification_uri_complete": f"{issuer.url}/activate?code={user_code}",
                            "expires_in": 600,
                            "interval": 1,
                        },
                    )
                elif self.path == "/token":
                    self._send(*issuer._token_endpoint(form))
                else:
                    self._send(404, {"error": "not_found"})

        return Handler
