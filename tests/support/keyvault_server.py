"""A small Azure Key Vault for tests: HTTPS on 127.0.0.1 (no Key Vault emulator exists here).

    with KeyVaultServer() as vault:
        vault.create_key("envelope")                     # an RSA-2048 key, version 1
        client = SecretClient(vault.url, vault.credential(), **vault.client_options())

It speaks the Key Vault REST data plane the azure-keyvault-secrets and azure-keyvault-keys
clients call, on the real wire format (JSON bundles, base64url key material):

- Authentication as Key Vault does it: a request without ``Authorization: Bearer <token>`` gets a
  401 with a ``WWW-Authenticate: Bearer authorization=..., resource=...`` challenge; the SDK then
  asks its credential for a token (:class:`StaticTokenCredential` hands out this vault's) and sends
  the request again. A wrong token is a 401 too.
- Secrets: set (a new version each time; a value over 25 KiB is a 400 as in Key Vault), get by
  version or latest, update a version's ``enabled`` (a disabled version's value is 403), delete
  (soft: into the deleted collection, where a set of the same name is a 409 until it is recovered
  or purged), get/purge/recover a deleted one.
- Keys: get (the public JWK), wrapKey / unwrapKey with RSA-OAEP-256 (RSA keys) or A256KW (``oct-HSM``
  keys, as in a Managed HSM: no key material is ever returned for them). Keys are created and
  rotated through this object's Python API, not REST. A disabled version refuses operations (403).

It does NOT emulate: RBAC or access policies (any holder of the token may do anything), tags,
content types, expiry/activation dates, paging of list calls (no list calls), backup/restore,
key creation/rotation policies over REST, certificates, HSM attestation, or throttling (429).
It is test code, kept small: one lock around plain dicts.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap
from cryptography.x509.oid import NameOID

TENANT = "00000000-0000-0000-0000-00000000beef"
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class StaticTokenCredential:
    """An azure-core TokenCredential that always answers one bearer token (tests only)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.calls += 1
        return AccessToken(self.token, int(time.time()) + 3600)


@dataclass
class _KeyVersion:
    version: str
    kty: str  # "RSA" or "oct-HSM"
    material: Any  # an RSAPrivateKey, or 32 bytes
    enabled: bool = True


@dataclass
class _SecretVersion:
    version: str
    value: str
    created: int
    enabled: bool = True


@dataclass
class _Secret:
    versions: dict[str, _SecretVersion] = field(default_factory=dict)
    latest: str = ""
    deleted_at: int | None = None


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "vault.pem", directory / "vault.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class KeyVaultServer:
    """One vault, served over TLS with a throw-away self-signed certificate."""

    def __init__(self) -> None:
        self.token = secrets.token_urlsafe(24)
        self.secrets: dict[str, _Secret] = {}
        self.keys: dict[str, list[_KeyVersion]] = {}
        self.requests: list[tuple[str, str, bool]] = []  # (method, path, authorized)
        self.lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="kv-fake-")
        self.ca_file, key_file = _self_signed(Path(self._dir.name))
        vault = self

        class Handler(_Handler):
            server_vault = vault

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    def credential(self, token: str | None = None) -> StaticTokenCredential:
        return StaticTokenCredential(token or self.token)

    def client_options(self) -> dict[str, Any]:
        """What an SDK client needs to trust this vault's certificate."""
        return {"connection_verify": str(self.ca_file)}

    def __enter__(self) -> KeyVaultServer:
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._dir.cleanup()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- keys, through Python (as an operator would in the portal) --------------------------------

    def create_key(self, name: str, kty: str = "RSA") -> str:
        """A new version of key ``name`` (the key itself if new); answers its kid."""
        material: Any = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048) if kty == "RSA" else os.urandom(32)
        )
        with self.lock:
            versions = self.keys.setdefault(name, [])
            versions.append(_KeyVersion(secrets.token_hex(16), kty, material))
            return self._kid(name, versions[-1].version)

    def disable_key_version(self, name: str, version: str) -> None:
        with self.lock:
            next(v for v in self.keys[name] if v.version == version).enabled = False

    def _kid(self, name: str, version: str) -> str:
        return f"{self.url}/keys/{name}/{version}"

    def _sid(self, name: str, version: str) -> str:
        return f"{self.url}/secrets/{name}/{version}"


class _Handler(BaseHTTPRequestHandler):
    server_vault: KeyVaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if raw:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, code: str, message: str) -> None:
        self._answer(status, {"error": {"code": code, "message": message}})

    def _handle(self) -> None:
        vault = self.server_vault
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        authorized = self.headers.get("Authorization") == f"Bearer {vault.token}"
        path = urlparse(self.path).path.rstrip("/")
        with vault.lock:
            vault.requests.append((self.command, path, authorized))
        if not authorized:
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                'resource="https://vault.azure.net"'
            )
            self._answer(401, {"error": {"code": "Unauthorized"}}, {"WWW-Authenticate": challenge})
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._error(400, "BadParameter", "the body is not JSON")
            return
        parts = path.strip("/").split("/")
        if any(not _NAME.match(p) for p in parts[1:2]):
            self._error(400, "BadParameter", "invalid name")
            return
        with vault.lock:
            if parts[0] == "secrets":
                self._secrets(vault, parts[1:], body)
            elif parts[0] == "deletedsecrets":
                self._deleted(vault, parts[1:])
            elif parts[0] == "keys":
                self._keys(vault, parts[1:], body)
            else:
                self._error(404, "NotFound", "no such collection")

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _handle

    # -- secrets ---------------------------------------------------------------------------------

    def _bundle(
        self, vault: KeyVaultServer, name: str, v: _SecretVersion, *, value: bool = True
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": vault._sid(name, v.version),
            "attributes": {
                "enabled": v.enabled,
                "created": v.created,
                "updated": v.created,
                "recoveryLevel": "Recoverable",
            },
        }
        if value:
            out["value"] = v.value
        return out

    def _secrets(self, vault: KeyVaultServer, parts: list[str], body: dict[str, Any]) -> None:
        name = parts[0] if parts else ""
        secret = vault.secrets.get(name)
        if self.command == "PUT" and len(parts) == 1:
            if secret is not None and secret.deleted_at is not None:
                self._error(409, "Conflict", f"Secret {name} is currently in a deleted but recoverable state")
                return
            if not isinstance(body.get("value"), str):
                self._error(400, "BadParameter", "value is required")
                return
            if len(body["value"].encode()) > 25 * 1024:
                self._error(400, "BadParameter", "The secret value exceeds the maximum size (25 KB).")
                return
            secret = vault.secrets.setdefault(name, _Secret())
            version = _SecretVersion(secrets.token_hex(16), body["value"], int(time.time()))
            secret.versions[version.version] = version
            secret.latest = version.version
            self._answer(200, self._bundle(vault, name, version))
            return
        if secret is None or secret.deleted_at is not None:
            self._error(
                404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault."
            )
            return
        if self.command == "DELETE" and len(parts) == 1:
            secret.deleted_at = int(time.time())
            latest = secret.versions[secret.latest]
            self._answer(
                200, {**self._bundle(vault, name, latest, value=False), **self._deleted_fields(vault, name)}
            )
            return
        version = secret.versions.get(parts[1] if len(parts) > 1 and parts[1] else secret.latest)
        if version is None:
            self._error(404, "SecretNotFound", f"A secret with (name/id) {name}/{parts[1]} was not found.")
            return
        if self.command == "PATCH":
            if "enabled" in (body.get("attributes") or {}):
                version.enabled = bool(body["attributes"]["enabled"])
            self._answer(200, self._bundle(vault, name, version, value=False))
        elif self.command == "GET":
            if not version.enabled:
                self._error(403, "Forbidden", "Operation get is not allowed on a disabled secret.")
                return
            self._answer(200, self._bundle(vault, name, version))
        else:
            self._error(405, "MethodNotAllowed", "not here")

    def _deleted_fields(self, vault: KeyVaultServer, name: str) -> dict[str, Any]:
        secret = vault.secrets[name]
        return {
            "recoveryId": f"{vault.url}/deletedsecrets/{name}",
            "deletedDate": secret.deleted_at,
            "scheduledPurgeDate": (secret.deleted_at or 0) + 7 * 86400,
        }

    def _deleted(self, vault: KeyVaultServer, parts: list[str]) -> None:
        name = parts[0] if parts else ""
        secret = vault.secrets.get(name)
        if secret is None or secret.deleted_at is None:
            self._error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
            return
        latest = secret.versions[secret.latest]
        if self.command == "GET" and len(parts) == 1:
            self._answer(
                200, {**self._bundle(vault, name, latest, value=False), **self._deleted_fields(vault, name)}
            )
        elif self.command == "DELETE" and len(parts) == 1:
            del vault.secrets[name]
            self._answer(204)
        elif self.command == "POST" and parts[1:] == ["recover"]:
            secret.deleted_at = None
            self._answer(200, self._bundle(vault, name, latest, value=False))
        else:
            self._error(405, "MethodNotAllowed", "not here")

    # -- keys ------------------------------------------------------------------------------------

    def _keys(self, vault: KeyVaultServer, parts: list[str], body: dict[str, Any]) -> None:
        versions = vault.keys.get(parts[0] if parts else "")
        if not versions:
            self._error(404, "KeyNotFound", "A key with this name was not found in this key vault.")
            return
        wanted = parts[1] if len(parts) > 1 else ""
        key = versions[-1] if not wanted else next((v for v in versions if v.version == wanted), None)
        if key is None:
            self._error(404, "KeyNotFound", "A key with this (name/version) was not found in this key vault.")
            return
        operation = parts[2] if len(parts) > 2 else ""
        if self.command == "GET" and not operation:
            self._answer(200, self._key_bundle(vault, parts[0], key))
            return
        if self.command != "POST" or operation not in ("wrapkey", "unwrapkey"):
            self._error(405, "MethodNotAllowed", "not here")
            return
        if not key.enabled:
            self._error(403, "Forbidden", f"Operation {operation} is not allowed on a disabled key.")
            return
        algorithm, value = body.get("alg"), body.get("value")
        if not isinstance(value, str) or algorithm != ("RSA-OAEP-256" if key.kty == "RSA" else "A256KW"):
            self._error(400, "BadParameter", "unsupported algorithm for this key, or no value")
            return
        try:
            data = _unb64url(value)
            out = _transform(key, operation, data)
        except (ValueError, InvalidUnwrap):
            self._error(400, "BadParameter", "The parameter is incorrect.")
            return
        self._answer(200, {"kid": vault._kid(parts[0], key.version), "value": _b64url(out)})

    def _key_bundle(self, vault: KeyVaultServer, name: str, key: _KeyVersion) -> dict[str, Any]:
        jwk: dict[str, Any] = {
            "kid": vault._kid(name, key.version),
            "kty": key.kty,
            "key_ops": ["wrapKey", "unwrapKey"],
        }
        if key.kty == "RSA":
            numbers = key.material.public_key().public_numbers()
            jwk.update(n=_b64url(_int_bytes(numbers.n)), e=_b64url(_int_bytes(numbers.e)))
        return {"key": jwk, "attributes": {"enabled": key.enabled, "recoveryLevel": "Recoverable"}}


def _transform(key: _KeyVersion, operation: str, data: bytes) -> bytes:
    if key.kty == "RSA":
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        if operation == "wrapkey":
            return bytes(key.material.public_key().encrypt(data, oaep))
        return bytes(key.material.decrypt(data, oaep))
    if operation == "wrapkey":
        return aes_key_wrap(key.material, data)
    return aes_key_unwrap(key.material, data)
