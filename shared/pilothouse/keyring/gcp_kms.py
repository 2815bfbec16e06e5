"""Google Cloud KMS as the key port: data keys wrapped by a Cloud KMS key (google-cloud-kms,
loaded here only).

``wrap`` is Cloud KMS ``Encrypt`` of the data key with the crypto key
(``projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>``; KMS uses its primary version) and
additional authenticated data naming the crypto key and Pilothouse's purpose, so a ciphertext
made for something else (another key, another application's data) does not decrypt as a data
key. The wrapped key's id is the *version* KMS answers (``.../cryptoKeyVersions/<n>``): after a
rotation (a new primary, or ``PILOTHOUSE_GCP_KMS_KEY_NAME`` pointed at another key) new data keys
name the new version and old ones still unwrap, as long as their version is enabled (a disabled
or destroyed version is :class:`UnknownKey`).

``unwrap`` is ``Decrypt`` on the crypto key the id names (Cloud KMS finds the version from the
ciphertext itself, and refuses a ciphertext whose version is not that key's). Integrity as Google
recommends: CRC32Cs go with each request and each answer's are checked. Data keys are never logged.
"""

from __future__ import annotations

import re
from typing import Any

from pilothouse.google_calls import crc32c, status_name
from pilothouse.ports.keys import KeyError_, UnknownKey, UnwrapFailed, WrappedKey

_SEG = r"[A-Za-z0-9_-]{1,63}"
KEY_NAME = re.compile(rf"^projects/{_SEG}/locations/{_SEG}/keyRings/{_SEG}/cryptoKeys/{_SEG}$")
VERSION_NAME = re.compile(
    rf"^(projects/{_SEG}/locations/{_SEG}/keyRings/{_SEG}/cryptoKeys/{_SEG})/cryptoKeyVersions/[0-9]{{1,10}}$"
)


def _aad(key_name: str) -> bytes:
    return f"pilothouse:data-key:{key_name}".encode()


class GcpKmsKeyWrapper:
    """Wraps data keys with the Cloud KMS crypto key ``key_name``."""

    def __init__(self, key_name: str, *, client: Any = None) -> None:
        if not isinstance(key_name, str) or not KEY_NAME.match(key_name):
            raise KeyError_(
                "key provider gcpkms needs projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>"
            )
        self.key_name = key_name
        if client is None:
            from google.cloud import kms

            client = kms.KeyManagementServiceClient()
        self._client = client

    def __repr__(self) -> str:
        return f"GcpKmsKeyWrapper(key_name={self.key_name!r})"

    def current_key_id(self) -> str:
        """The crypto key (its primary version is known only once KMS answers an Encrypt)."""
        return self.key_name

    def wrap(self, data_key: bytes) -> WrappedKey:
        from google.api_core.exceptions import GoogleAPICallError

        aad = _aad(self.key_name)
        try:
            answer = self._client.encrypt(
                request={
                    "name": self.key_name,
                    "plaintext": data_key,
                    "additional_authenticated_data": aad,
                    "plaintext_crc32c": crc32c(data_key),
                    "additional_authenticated_data_crc32c": crc32c(aad),
                }
            )
        except GoogleAPICallError as exc:
            raise KeyError_(f"Cloud KMS Encrypt with {self.key_name!r} failed: {status_name(exc)}") from None
        ciphertext = bytes(answer.ciphertext)
        if not (
            answer.verified_plaintext_crc32c
            and answer.verified_additional_authenticated_data_crc32c
            and int(answer.ciphertext_crc32c or -1) == crc32c(ciphertext)
        ):
            raise KeyError_("Cloud KMS Encrypt: the request or its answer was corrupted in transit (CRC32C)")
        match = VERSION_NAME.match(str(answer.name))
        if match is None or match.group(1) != self.key_name:
            raise KeyError_("Cloud KMS Encrypt answered with a key version of another key")
        return WrappedKey(str(answer.name), ciphertext)

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        from google.api_core.exceptions import GoogleAPICallError

        match = VERSION_NAME.match(wrapped.key_id) if isinstance(wrapped.key_id, str) else None
        if match is None:
            raise UnknownKey(str(wrapped.key_id)[:200])
        key_name = match.group(1)
        aad = _aad(key_name)
        try:
            answer = self._client.decrypt(
                request={
                    "name": key_name,
                    "ciphertext": wrapped.ciphertext,
                    "additional_authenticated_data": aad,
                    "ciphertext_crc32c": crc32c(wrapped.ciphertext),
                    "additional_authenticated_data_crc32c": crc32c(aad),
                }
            )
        except GoogleAPICallError as exc:
            code = status_name(exc)
            if code in ("NOT_FOUND", "FAILED_PRECONDITION", "PERMISSION_DENIED"):
                raise UnknownKey(wrapped.key_id) from None  # gone, disabled or destroyed, or no right
            if code == "INVALID_ARGUMENT":
                raise UnwrapFailed("Cloud KMS refused the wrapped key (INVALID_ARGUMENT)") from None
            raise KeyError_(f"Cloud KMS Decrypt failed: {code}") from None
        plaintext = bytes(answer.plaintext)
        if int(answer.plaintext_crc32c or -1) != crc32c(plaintext):
            raise KeyError_("Cloud KMS Decrypt: the answer was corrupted in transit (CRC32C)")
        return plaintext
