"""A small Cloud KMS and Secret Manager for tests: their REST (JSON) APIs on 127.0.0.1 over HTTP
(no emulator exists for either). The SDKs reach it on their REST transport::

    with GcpSecretsServer() as fake:
        kms = fake.kms_client()                      # KeyManagementServiceClient(transport="rest")
        key = fake.create_key("pilothouse-test", "global", "ring", "envelope")

Cloud KMS (symmetric ENCRYPT_DECRYPT keys, created and rotated through this object's Python API):

- ``:encrypt`` on a crypto key (its primary version) or on one version; ``:decrypt`` on a crypto
  key. The ciphertext names the key and version that made it (as Cloud KMS's does, opaquely):
  decrypting it with another crypto key, with other additional authenticated data, or tampered
  is INVALID_ARGUMENT; its version disabled or destroyed is FAILED_PRECONDITION.
- CRC32C integrity fields: a request's checksum that does not match its data is INVALID_ARGUMENT;
  answers carry ``verified_*`` and the answer's own checksums.

Secret Manager: create a secret (ALREADY_EXISTS on a second create), add a version (numbered
1, 2, …; a wrong ``data_crc32c`` is INVALID_ARGUMENT), access a version (a destroyed or disabled
one is FAILED_PRECONDITION), destroy a version, delete a secret.

Errors are ``{"error": {"code", "message", "status"}}`` with the HTTP status Google maps each
canonical code to. It does NOT emulate: IAM (every request may do anything; no credentials are
checked), asymmetric or MAC keys, import jobs, key rotation schedules, ``latest`` aliases,
locations other than what the name says, replication policies, etags, TTLs and expiry, paging of
list calls (there are none), or quotas. Test code, kept small: one lock around plain dicts.
"""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import google_crc32c
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tests.support.httpservers import ThreadedServer

_SEG = r"[A-Za-z0-9_-]{1,63}"
_KEY = re.compile(
    rf"^(projects/{_SEG}/locations/{_SEG}/keyRings/{_SEG}/cryptoKeys/{_SEG})(?:/cryptoKeyVersions/(\d+))?$"
)
_SECRET = re.compile(rf"^projects/({_SEG})/secrets/([A-Za-z0-9_-]{{1,255}})(?:/versions/(\d+))?$")
_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404, "ALREADY_EXISTS": 409}


class _Refused(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def _crc(data: bytes) -> int:
    return int(google_crc32c.value(data))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(body: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(body.get(name) or "", validate=True)
    except ValueError:
        raise _Refused("INVALID_ARGUMENT", f"{name} is not base64") from None


def _check_crc(body: dict[str, Any], name: str, data: bytes) -> bool:
    given = body.get(name)
    if given is None:
        return False
    if int(given) != _crc(data):
        raise _Refused("INVALID_ARGUMENT", f"{name} does not match")
    return True


@dataclass
class _Version:
    material: bytes
    state: str = "ENABLED"  # ENABLED, DISABLED, DESTROYED


@dataclass
class _CryptoKey:
    versions: list[_Version] = field(default_factory=list)
    primary: int = 1


@dataclass
class _SecretVersion:
    data: bytes
    state: str = "ENABLED"


class GcpSecretsServer(ThreadedServer):
    def __init__(self) -> None:
        self.keys: dict[str, _CryptoKey] = {}
        self.secrets: dict[str, list[_SecretVersion]] = {}
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(_Handler):
            server_fake = fake

        super().__init__(Handler)

    def __enter__(self) -> GcpSecretsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def client_options(self) -> dict[str, Any]:
        return {"api_endpoint": self.url}

    def kms_client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import kms

        return kms.KeyManagementServiceClient(
            credentials=AnonymousCredentials(), transport="rest", client_options=self.client_options()
        )

    def secret_manager_client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import secretmanager

        return secretmanager.SecretManagerServiceClient(
            credentials=AnonymousCredentials(), transport="rest", client_options=self.client_options()
        )

    # -- keys, through Python (as an operator would with gcloud) ---------------------------------

    def create_key(self, project: str, location: str, ring: str, name: str) -> str:
        key_name = f"projects/{project}/locations/{location}/keyRings/{ring}/cryptoKeys/{name}"
        with self.lock:
            self.keys[key_name] = _CryptoKey([_Version(os.urandom(32))])
        return key_name

    def rotate(self, key_name: str) -> str:
        """A new primary version; answers its name."""
        with self.lock:
            key = self.keys[key_name]
            key.versions.append(_Version(os.urandom(32)))
            key.primary = len(key.versions)
            return f"{key_name}/cryptoKeyVersions/{key.primary}"

    def set_version_state(self, version_name: str, state: str) -> None:
        match = _KEY.match(version_name)
        assert match and match.group(2)
        with self.lock:
            self.keys[match.group(1)].versions[int(match.group(2)) - 1].state = state


class _Handler(BaseHTTPRequestHandler):
    server_fake: GcpSecretsServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _handle(self) -> None:
        fake = self.server_fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        path = path.removeprefix("/v1/")
        with fake.lock:
            fake.requests.append((self.command, path))
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise _Refused("INVALID_ARGUMENT", "the body is a JSON object")
            with fake.lock:
                answer = self._route(fake, path, query, body)
        except _Refused as exc:
            code = _STATUS[exc.status]
            self._answer(code, {"error": {"code": code, "message": str(exc), "status": exc.status}})
            return
        except ValueError:
            self._answer(400, {"error": {"code": 400, "message": "bad JSON", "status": "INVALID_ARGUMENT"}})
            return
        self._answer(200, answer)

    do_GET = do_POST = do_DELETE = _handle

    def _route(self, fake: GcpSecretsServer, path: str, query: str, body: dict[str, Any]) -> dict[str, Any]:
        resource, _, verb = path.partition(":")
        if resource.startswith("projects/") and "/cryptoKeys/" in resource and verb in ("encrypt", "decrypt"):
            return _kms(fake, resource, verb, body)
        if self.command == "POST" and re.match(rf"^projects/{_SEG}/secrets$", resource) and not verb:
            secret_id = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("secretId", "")
            return _create_secret(fake, f"{resource}/{secret_id}")
        match = _SECRET.match(resource)
        if match is None:
            raise _Refused("NOT_FOUND", "no such resource")
        secret_name = resource.split("/versions/")[0]
        versions = fake.secrets.get(secret_name)
        if versions is None:
            raise _Refused("NOT_FOUND", f"Secret [{secret_name}] not found")
        if verb == "addVersion" and self.command == "POST":
            payload = body.get("payload") or {}
            data = _unb64(payload, "data")
            _check_crc(payload, "dataCrc32c", data)
            versions.append(_SecretVersion(data))
            return {
                "name": f"{secret_name}/versions/{len(versions)}",
                "state": "ENABLED",
                "createTime": _now(),
            }
        if self.command == "DELETE" and not match.group(3) and not verb:
            del fake.secrets[secret_name]
            return {}
        number = int(match.group(3) or 0)
        if not 1 <= number <= len(versions):
            raise _Refused("NOT_FOUND", f"Secret Version [{resource}] not found")
        version = versions[number - 1]
        if verb == "access" and self.command == "GET":
            if version.state != "ENABLED":
                raise _Refused(
                    "FAILED_PRECONDITION", f"Secret Version [{resource}] is in {version.state} state"
                )
            return {
                "name": resource,
                "payload": {"data": _b64(version.data), "dataCrc32c": str(_crc(version.data))},
            }
        if verb == "destroy" and self.command == "POST":
            if version.state == "DESTROYED":
                raise _Refused("FAILED_PRECONDITION", f"Secret Version [{resource}] is already destroyed")
            version.state, version.data = "DESTROYED", b""
            return {"name": resource, "state": "DESTROYED"}
        raise _Refused("NOT_FOUND", "no such method")


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _create_secret(fake: GcpSecretsServer, name: str) -> dict[str, Any]:
    if not _SECRET.match(name):
        raise _Refused("INVALID_ARGUMENT", "secret_id is invalid")
    if name in fake.secrets:
        raise _Refused("ALREADY_EXISTS", f"Secret [{name}] already exists")
    fake.secrets[name] = []
    return {"name": name, "replication": {"automatic": {}}, "createTime": _now()}


_MAGIC = b"FKMS"


def _kms(fake: GcpSecretsServer, resource: str, verb: str, body: dict[str, Any]) -> dict[str, Any]:
    match = _KEY.match(resource)
    if match is None or match.group(1) not in fake.keys:
        raise _Refused("NOT_FOUND", f"{resource} not found")
    key_name, key = match.group(1), fake.keys[match.group(1)]
    aad = _unb64(body, "additionalAuthenticatedData")
    aad_checked = _check_crc(body, "additionalAuthenticatedDataCrc32c", aad)
    tag = struct.pack(">I", _crc(key_name.encode()))
    if verb == "encrypt":
        number = int(match.group(2) or key.primary)
        if not 1 <= number <= len(key.versions) or key.versions[number - 1].state != "ENABLED":
            raise _Refused("FAILED_PRECONDITION", f"{key_name}/cryptoKeyVersions/{number} is not enabled")
        plaintext = _unb64(body, "plaintext")
        plain_checked = _check_crc(body, "plaintextCrc32c", plaintext)
        nonce = os.urandom(12)
        header = _MAGIC + tag + struct.pack(">I", number)
        ciphertext = (
            header + nonce + AESGCM(key.versions[number - 1].material).encrypt(nonce, plaintext, header + aad)
        )
        return {
            "name": f"{key_name}/cryptoKeyVersions/{number}",
            "ciphertext": _b64(ciphertext),
            "ciphertextCrc32c": str(_crc(ciphertext)),
            "verifiedPlaintextCrc32c": plain_checked,
            "verifiedAdditionalAuthenticatedDataCrc32c": aad_checked,
            "protectionLevel": "SOFTWARE",
        }
    if match.group(2):
        raise _Refused("INVALID_ARGUMENT", "decrypt names a crypto key, not a version")
    ciphertext = _unb64(body, "ciphertext")
    _check_crc(body, "ciphertextCrc32c", ciphertext)
    if len(ciphertext) < 28 or ciphertext[:4] != _MAGIC or ciphertext[4:8] != tag:
        raise _Refused("INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
    number = struct.unpack(">I", ciphertext[8:12])[0]
    if not 1 <= number <= len(key.versions):
        raise _Refused("INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.")
    version = key.versions[number - 1]
    if version.state != "ENABLED":
        raise _Refused("FAILED_PRECONDITION", f"{key_name}/cryptoKeyVersions/{number} is not enabled")
    try:
        plaintext = AESGCM(version.material).decrypt(
            ciphertext[12:24], ciphertext[24:], ciphertext[:12] + aad
        )
    except InvalidTag:
        raise _Refused("INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.") from None
    return {
        "plaintext": _b64(plaintext),
        "plaintextCrc32c": str(_crc(plaintext)),
        "usedPrimary": number == key.primary,
        "protectionLevel": "SOFTWARE",
    }
