"""The secrets API (issue 13 §2) on Azure Key Vault and Google Secret Manager, with the master keys
in Key Vault and Cloud KMS (issue 15): the HTTPS Key Vault fake and the REST Cloud KMS / Secret
Manager fake of tests/support, on 127.0.0.1. Create, rotate, a revision bound to the current and
to a pinned (rolled-back) version, a Lambda refused a reference it cannot read, and no value in any
answer, audit record, log line or the raw store; the wiring from settings alone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import deploying
from tests.support.deploying import deployment, running
from tests.support.secret_checks import BindingFake, everything, log_lines, put

run = deploying.run


@pytest.fixture
def every_log_line():
    yield from log_lines()


VALUE = "cl0ud-Value-of-the-db-5e21aa"
ROTATED = "cl0ud-r0tated-Value-77c0d1"


@pytest.fixture(scope="module")
def keyvault() -> Iterator[Any]:
    from tests.support.keyvault_server import KeyVaultServer

    with KeyVaultServer() as vault:
        vault.create_key("pilothouse-master")
        yield vault


@pytest.fixture(scope="module")
def gcp() -> Iterator[Any]:
    from tests.support.gcp_secrets_server import GcpSecretsServer

    with GcpSecretsServer() as fake:
        fake.create_key("pilothouse-test", "global", "ring", "master")
        yield fake


@pytest.fixture(params=["keyvault", "gcp-secret-manager"])
def backend(request, loopback_only) -> tuple[Any, Any, Any]:
    """(secret backend, master keys, () -> what the cloud fake holds)."""
    if request.param == "keyvault":
        from pilothouse.keyring.azure_keyvault import KeyVaultKeyWrapper
        from pilothouse.secrets.azure_keyvault import KeyVaultSecrets

        vault = request.getfixturevalue("keyvault")
        with vault.lock:
            vault.secrets.clear()
        options = {"credential": vault.credential(), "client_options": vault.client_options()}
        return (
            KeyVaultSecrets(vault.url, **options),
            KeyVaultKeyWrapper(vault.url, "pilothouse-master", **options),
            lambda: repr(vault.secrets),
        )
    from pilothouse.keyring.gcp_kms import GcpKmsKeyWrapper
    from pilothouse.secrets.gcp_secret_manager import GcpSecretManagerSecrets

    fake = request.getfixturevalue("gcp")
    with fake.lock:
        fake.secrets.clear()
    return (
        GcpSecretManagerSecrets("pilothouse-test", client=fake.secret_manager_client()),
        GcpKmsKeyWrapper(
            "projects/pilothouse-test/locations/global/keyRings/ring/cryptoKeys/master",
            client=fake.kms_client(),
        ),
        lambda: repr(fake.secrets),
    )


@pytest.fixture
def provider():
    return BindingFake()


@pytest.fixture
def services(env, clock, provider, backend, monkeypatch):
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services, register_services

    secrets, keys, _ = backend
    monkeypatch.setenv("PILOTHOUSE_SECRET_BACKEND", secrets.name)
    s = Services(get_settings(), clock, providers={"local": provider}, secrets=secrets, master_keys=keys)
    register_services(s)
    return s


@pytest.fixture(autouse=True)
def _fresh_cache():
    from pilothouse.services import config_watch

    config_watch.clear()
    yield
    config_watch.clear()


def test_secrets_live_in_the_cloud_and_bind_by_version(
    api, run, provider, services, backend, env, every_log_line
):
    """Given the API on a cloud backend, a secret is created and rotated there; a revision starts
    with the current value, a reference pinned to version 1 (a rollback) starts with the first
    value, a Lambda revision is refused a reference it cannot read; no answer, audit record, log
    line or byte of the SQLite file holds a value, and the cloud holds both."""
    from pilothouse.ports import ProviderError, Release
    from pilothouse.services import secrets

    _, _, held = backend
    answers = [api.post("/v1/secrets", {"name": "db", "value": VALUE})]
    assert answers[0][0] == 201 and answers[0][2]["backend"] == services.secrets.name
    answers.append(api.post("/v1/secrets", {"name": "../db", "value": VALUE}))
    assert answers[-1][0] in (400, 404, 422)
    big = "B" * (26 * 1024)  # over Key Vault's 25 KiB, under the service's 64 KiB
    answers.append(api.post("/v1/secrets/db/rotate", {"value": big}))
    if services.secrets.name == "keyvault":
        assert answers[-1][0] == 422 and answers[-1][2]["errors"][0]["field"] == "value"
        answers.pop()
    answers.append(api.post("/v1/secrets/db/rotate", {"value": ROTATED}))
    assert answers[-1][2]["current_version"] in (2, 3)
    running(api, run)
    answers.append(put(api, "/v1/components/web/config", {"values": {"pw": {"$secret": "db"}}}))
    run()
    assert deployment(api)["status"] == "succeeded"
    assert provider.secret_envs[-1] == {"PW": ROTATED}
    answers.append(put(api, "/v1/components/web/config", {"values": {"pw": {"$secret": "db", "version": 1}}}))
    run()
    assert provider.secret_envs[-1] == {"PW": VALUE}
    release = Release(component="fn", version="1", target={}, config={"pw": {"$secret": "db"}})
    with pytest.raises(ProviderError, match="cannot read") as refused:
        secrets.bind(services, release, "aws-lambda")
    answers += everything(api, ["web"])
    assert VALUE in held() and ROTATED in held()
    text = repr(answers) + every_log_line.getvalue() + str(refused.value)
    assert "create_secret" in text or "rotate_secret" in text
    for value in (VALUE, ROTATED):
        assert value not in text
    raw_items = [i.data for i in services.store.scan()]
    assert raw_items and VALUE not in repr(raw_items) and ROTATED not in repr(raw_items)
    services.store.close()
    data = b"".join(p.read_bytes() for p in (env / "data").glob("state.db*"))
    assert VALUE.encode() not in data and ROTATED.encode() not in data


def test_deleting_a_secret_deletes_it_in_the_cloud(api, services, backend):
    _, _, held = backend
    assert api.post("/v1/secrets", {"name": "gone", "value": VALUE})[0] == 201
    assert VALUE in held()
    assert api.delete("/v1/secrets/gone")[0] == 204
    assert "pilothouse-gone" not in held() or services.secrets.name == "keyvault"
    assert api.post("/v1/secrets", {"name": "gone", "value": ROTATED})[0] == 201  # the name again


def test_wiring_builds_the_cloud_backends_from_settings(monkeypatch, loopback_only):
    """Given settings alone, the services pick Key Vault / Secret Manager secrets and Key Vault /
    Cloud KMS master keys; a missing setting is a ConfigurationError naming it, and a vault URL
    that is not a vault (metadata address, plain HTTP, a path) is refused by the settings."""
    from pilothouse.errors import ConfigurationError
    from pilothouse.settings import Settings
    from pilothouse.wiring import Services

    vault = {"PILOTHOUSE_AZURE_KEYVAULT_URL": "https://ph-kv.vault.azure.net/"}
    azure = Settings.from_environ(
        {
            **vault,
            "PILOTHOUSE_SECRET_BACKEND": "keyvault",
            "PILOTHOUSE_KEY_PROVIDER": "keyvault",
            "PILOTHOUSE_AZURE_KEYVAULT_KEY_NAME": "pilothouse-master",
        }
    )
    assert azure.azure_keyvault_url == "https://ph-kv.vault.azure.net"
    built = Services(azure)
    assert type(built.secrets).__name__ == "KeyVaultSecrets"
    assert type(built.master_keys).__name__ == "KeyVaultKeyWrapper"
    for bad in (
        "https://169.254.169.254/",
        "http://ph-kv.vault.azure.net",
        "https://ph-kv.vault.azure.net/x",
    ):
        with pytest.raises(ConfigurationError, match="AZURE_KEYVAULT_URL"):
            Settings.from_environ({"PILOTHOUSE_AZURE_KEYVAULT_URL": bad})
    with pytest.raises(ConfigurationError, match="AZURE_KEYVAULT_URL"):
        _ = Services(Settings.from_environ({"PILOTHOUSE_SECRET_BACKEND": "keyvault"})).secrets
    with pytest.raises(ConfigurationError, match="AZURE_KEYVAULT_KEY_NAME"):
        _ = Services(Settings.from_environ({**vault, "PILOTHOUSE_KEY_PROVIDER": "keyvault"})).master_keys

    import google.auth
    from google.auth.credentials import AnonymousCredentials

    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "pilothouse-test"))
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    key = "projects/pilothouse-test/locations/global/keyRings/ring/cryptoKeys/master"
    gcp = Settings.from_environ(
        {
            "PILOTHOUSE_SECRET_BACKEND": "gcp-secret-manager",
            "PILOTHOUSE_GCP_PROJECT": "pilothouse-test",
            "PILOTHOUSE_KEY_PROVIDER": "gcpkms",
            "PILOTHOUSE_GCP_KMS_KEY_NAME": key,
        }
    )
    built = Services(gcp)
    assert type(built.secrets).__name__ == "GcpSecretManagerSecrets"
    assert type(built.master_keys).__name__ == "GcpKmsKeyWrapper"
    with pytest.raises(ConfigurationError, match="GCP_PROJECT"):
        _ = Services(Settings.from_environ({"PILOTHOUSE_SECRET_BACKEND": "gcp-secret-manager"})).secrets
    with pytest.raises(ConfigurationError, match="GCP_KMS_KEY_NAME"):
        _ = Services(Settings.from_environ({"PILOTHOUSE_KEY_PROVIDER": "gcpkms"})).master_keys
    with pytest.raises(ConfigurationError, match="GCP_KMS_KEY_NAME"):
        Settings.from_environ({"PILOTHOUSE_GCP_KMS_KEY_NAME": key + "/../../../other"})
