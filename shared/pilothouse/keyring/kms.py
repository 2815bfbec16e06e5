"""AWS KMS as the key port: data keys wrapped by a KMS key (boto3 loads here only).

``wrap`` is KMS ``Encrypt`` of the data key with an encryption context
(``{"pilothouse": "data-key"}``), ``unwrap`` is ``Decrypt`` naming the key the ciphertext names.
Rotation: KMS's automatic rotation keeps the key id (old ciphertexts decrypt); pointing
``PILOTHOUSE_ENVELOPE_KMS_KEY_ID`` at a new key makes new objects use it while objects wrapped by
the old key still unwrap, as long as the caller may still decrypt with it. The data key never
leaves this process in clear text; KMS answers are never logged.
"""

from __future__ import annotations

from typing import Any

from pilothouse.ports.keys import KeyError_, UnknownKey, UnwrapFailed, WrappedKey
from pilothouse.sdklogs import quiet_aws_bodies

CONTEXT = {"pilothouse": "data-key"}


class KmsKeyWrapper:
    """Wraps data keys with the KMS key ``key_id`` (id, ARN or alias)."""

    def __init__(self, key_id: str, *, client: Any = None, region: str | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("kms", region_name=region)
        self._client = client
        self._key_id = key_id
        quiet_aws_bodies()  # botocore would log each data key at DEBUG

    def __repr__(self) -> str:
        return f"KmsKeyWrapper(key_id={self._key_id!r})"

    def current_key_id(self) -> str:
        return self._key_id

    def wrap(self, data_key: bytes) -> WrappedKey:
        try:
            answer = self._client.encrypt(KeyId=self._key_id, Plaintext=data_key, EncryptionContext=CONTEXT)
        except Exception as exc:
            raise KeyError_(f"KMS Encrypt with {self._key_id!r} failed: {_code(exc)}") from exc
        return WrappedKey(str(answer["KeyId"]), bytes(answer["CiphertextBlob"]))

    def unwrap(self, wrapped: WrappedKey) -> bytes:
        try:
            answer = self._client.decrypt(
                CiphertextBlob=wrapped.ciphertext, KeyId=wrapped.key_id, EncryptionContext=CONTEXT
            )
        except Exception as exc:
            code = _code(exc)
            if code in ("NotFoundException", "DisabledException", "KMSInvalidStateException"):
                raise UnknownKey(wrapped.key_id) from exc
            if code in ("InvalidCiphertextException", "IncorrectKeyException", "ValidationException"):
                raise UnwrapFailed(f"KMS refused the wrapped key ({code})") from exc
            raise KeyError_(f"KMS Decrypt failed: {code}") from exc
        return bytes(answer["Plaintext"])


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__
