"""Envelope seal + open and a secret put + get through the cloud key and secret adapters, beside
the local keyring and the built-in store in the same run (issue 15's key and secret backends).

    .venv/bin/pytest tests/benchmarks/test_bench_cloud_keys.py -s -p no:xdist

The anchor is the embedded default doing the same work in the same run, samples interleaved: the
local keyring (AES-GCM in process) for seal/open, the built-in secret backend (sealed into the
memory store) for put/get. The cloud services are the loopback fakes of tests/support (HTTPS for
Key Vault, REST for Cloud KMS / Secret Manager): the figures compare adapter paths (SDK pipeline,
TLS, JSON), not the clouds' own latency. Figures are printed, never asserted.
"""

from __future__ import annotations

import os
import time

import pytest

from pilothouse.clock import SystemClock
from pilothouse.crypto.envelope import open_sealed, seal
from pilothouse.keyring.azure_keyvault import KeyVaultKeyWrapper
from pilothouse.keyring.gcp_kms import GcpKmsKeyWrapper
from pilothouse.keyring.local import LocalKeyring
from pilothouse.secrets.azure_keyvault import KeyVaultSecrets
from pilothouse.secrets.builtin import BuiltinSecrets
from pilothouse.secrets.gcp_secret_manager import GcpSecretManagerSecrets
from pilothouse.store.memory import MemoryStore
from tests.support.bench import ratio_rows, report
from tests.support.gcp_secrets_server import GcpSecretsServer
from tests.support.keyvault_server import KeyVaultServer

pytestmark = pytest.mark.benchmark

ROUNDS = int(os.environ.get("BENCH_CLOUD_KEY_ROUNDS", "150"))


def _timed(fn) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - wall, time.thread_time() - cpu


def test_cloud_key_and_secret_paths_beside_the_embedded_ones():
    with KeyVaultServer() as vault, GcpSecretsServer() as gcp:
        vault.create_key("bench")
        key_name = gcp.create_key("bench-project", "global", "ring", "bench")
        options = {"credential": vault.credential(), "client_options": vault.client_options()}
        wrappers = {
            "local keyring (anchor)": LocalKeyring.generate(),
            "Key Vault RSA-OAEP-256": KeyVaultKeyWrapper(vault.url, "bench", **options),
            "Cloud KMS": GcpKmsKeyWrapper(key_name, client=gcp.kms_client()),
        }
        backends = {
            "built-in (anchor)": BuiltinSecrets(MemoryStore(SystemClock()), LocalKeyring.generate()),
            "Key Vault": KeyVaultSecrets(vault.url, **options),
            "Secret Manager": GcpSecretManagerSecrets("bench-project", client=gcp.secret_manager_client()),
        }
        for w in wrappers.values():  # warm: clients, the challenge, the key's public part
            open_sealed(w, seal(w, b"warm", aad=b"a"), aad=b"a")
        for b in backends.values():
            b.get("warm", 1, b.put("warm", 1, "v"))
        seal_wall: dict[str, list[float]] = {k: [] for k in wrappers}
        seal_cpu: dict[str, list[float]] = {k: [] for k in wrappers}
        secret_wall: dict[str, list[float]] = {k: [] for k in backends}
        secret_cpu: dict[str, list[float]] = {k: [] for k in backends}
        for n in range(ROUNDS):
            for label, w in wrappers.items():
                wall, cpu = _timed(lambda w=w: open_sealed(w, seal(w, b"x" * 64, aad=b"a"), aad=b"a"))
                seal_wall[label].append(wall)
                seal_cpu[label].append(cpu)
            for label, b in backends.items():
                wall, cpu = _timed(lambda b=b, n=n: b.get("s", n + 1, b.put("s", n + 1, f"value-{n}")))
                secret_wall[label].append(wall)
                secret_cpu[label].append(cpu)
        load = os.getloadavg()
        report(
            f"seal + open of 64 bytes, {ROUNDS} rounds interleaved (load average {load[0]:.1f})",
            ratio_rows(seal_wall, "local keyring (anchor)", seal_cpu),
        )
        report(
            f"secret put + get, {ROUNDS} rounds interleaved (load average {load[0]:.1f})",
            ratio_rows(secret_wall, "built-in (anchor)", secret_cpu),
        )
        assert all(len(v) == ROUNDS for v in seal_wall.values())
