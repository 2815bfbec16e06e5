"""A local OpenID Connect issuer for the tests, on 127.0.0.1 and a free port.

It serves discovery (``/.well-known/openid-configuration``), the JWKS (``/jwks``), the device
authorization endpoint (``/device``) and the token endpoint (``/token``: the device-code grant and
refresh tokens), with keys made by joserfc (RS256, ES256 and EdDSA). Tests mint tokens with
:meth:`LocalIssuer.mint`, rotate or remove keys, approve a device code, or take the issuer down.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


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

    def _token_endpoint(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
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
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                if issuer.down:
                    self._send(503, {"error": "down"})
                elif self.path == "/.well-known/openid-configuration":
                    self._send(
                        200,
                        {
                            "issuer": issuer.url,
                            "jwks_uri": issuer.url + "/jwks",
                            "token_endpoint": issuer.url + "/token",
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
