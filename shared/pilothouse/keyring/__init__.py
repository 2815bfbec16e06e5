"""Adapters of the key port (:mod:`pilothouse.ports.keys`): master keys that wrap data keys.

- :mod:`.local`: a keyring of AES-256 master keys from settings or a key file (mode 0600);
- :mod:`.kms`: AWS KMS (boto3, loaded only there).

:mod:`pilothouse.wiring` picks one from ``settings.key_provider`` (``Services.master_keys``).
"""
