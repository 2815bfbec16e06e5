"""The secret-value port's contract (:mod:`pilothouse.ports.secrets`), run on every backend: the
built-in encrypted store, Secrets Manager and SSM (moto server), Azure Key Vault (the HTTPS fake of
tests/support/keyvault_server.py) and Google Secret Manager (the REST fake of
tests/support/gcp_secrets_server.py), each on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pilothouse.ports.secrets import SecretBackend, SecretBackendError

VALUE = "c0ntract-Value-9d41e7"
BACKENDS = ["builtin", "secretsmanager", "ssm", "keyvault", "gcp-secret-manager"]
#: backends whose ``forget`` makes the version unreadable (the AWS services age versions out
#: themselves: their forget is a no-op, see pilothouse.secrets.aws)
FORGETTING = {"builtin", "keyvault", "gcp-secret-manager"}
#: backends that check names and references themselves before any request (the cloud ones)
CHECKING = ("keyvault", "gcp-secret-manager")


@dataclass
class Case:
    backend: SecretBackend
    requests: list[Any]  # the fake's request log (empty list where there is none)
    stored: Any  # () -> every value the service itself holds, as text


@pytest.fixture(scope="module")
def moto() -> Iterator[Any]:
    from tests.support.moto_server import MotoServer

    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def keyvault() -> Iterator[Any]:
    from tests.support.keyvault_server import KeyVaultServer

    with KeyVaultServer() as vault:
        yield vault


@pytest.fixture(scope="module")
def gcp() -> Iterator[Any]:
    from tests.support.gcp_secrets_server import GcpSecretsServer

    with GcpSecretsServer() as fake:
        yield fake


@pytest.fixture(params=BACKENDS)
def case(request, loopback_only) -> Case:
    return _case(request.param, request)


@pytest.fixture(params=sorted(CHECKING))
def cloud_case(request, loopback_only) -> Case:
    return _case(request.param, request)


def _case(name: str, request: Any) -> Case:
    if name == "builtin":
        from pilothouse.clock import SystemClock
        from pilothouse.keyring.local import LocalKeyring
        from pilothouse.secrets.builtin import BuiltinSecrets
        from pilothouse.store.memory import MemoryStore

        store = MemoryStore(SystemClock())
        return Case(
            BuiltinSecrets(store, LocalKeyring.generate()), [], lambda: repr([i.data for i in store.scan()])
        )
    if name in ("secretsmanager", "ssm"):
        from pilothouse.secrets.aws import SecretsManagerSecrets, SsmSecrets

        moto = request.getfixturevalue("moto")
        moto.reset()
        if name == "ssm":
            return Case(SsmSecrets("/pilothouse/secrets/", client=moto.client("ssm")), [], lambda: "")
        return Case(
            SecretsManagerSecrets("pilothouse/", client=moto.client("secretsmanager")), [], lambda: ""
        )
    if name == "keyvault":
        from pilothouse.secrets.azure_keyvault import KeyVaultSecrets

        vault = request.getfixturevalue("keyvault")
        with vault.lock:
            vault.secrets.clear()
        backend = KeyVaultSecrets(
            vault.url, credential=vault.credential(), client_options=vault.client_options()
        )
        return Case(backend, vault.requests, lambda: repr(vault.secrets))
    from pilothouse.secrets.gcp_secret_manager import GcpSecretManagerSecrets

    fake = request.getfixturevalue("gcp")
    with fake.lock:
        fake.secrets.clear()
    backend = GcpSecretManagerSecrets("pilothouse-test", client=fake.secret_manager_client())
    return Case(backend, fake.requests, lambda: repr(fake.secrets))


def test_versions_read_back_by_reference_and_a_rollback_reads_the_old_value(case):
    """Given three versions, each reads back by its reference (the first one too, after the later
    ones: what a rollback to it reads); the runtime reference names the backend and the version."""
    b = case.backend
    refs = [b.put("db", n, f"{VALUE}-{n}") for n in (1, 2, 3)]
    assert len(set(refs)) == 3
    assert [b.get("db", n, ref) for n, ref in zip((1, 2, 3), refs, strict=True)] == [
        f"{VALUE}-{n}" for n in (1, 2, 3)
    ]
    runtime = b.runtime_reference("db", 3, refs[2])
    if b.name == "builtin":
        assert runtime is None
    else:
        assert runtime is not None and runtime.startswith(f"{b.name}:") and refs[2] in runtime
        assert VALUE not in runtime


def test_the_service_holds_the_value(case):
    """Given a put, the service behind the backend holds the value (not Pilothouse's store): the
    built-in one holds only ciphertext."""
    b = case.backend
    b.put("api-token", 1, VALUE)
    if b.name == "builtin":
        assert VALUE not in case.stored()
    elif b.name in CHECKING:
        assert VALUE in case.stored()


def test_forget_drops_one_version_and_delete_drops_all(case):
    """Given two versions, forgetting the first leaves the second readable (and forgetting it
    again is no error); deleting the secret drops every value (twice is no error), and the name
    can be used again from version 1."""
    b = case.backend
    first, second = b.put("db", 1, VALUE), b.put("db", 2, VALUE + "-2")
    b.forget("db", 1, first)
    b.forget("db", 1, first)
    assert b.get("db", 2, second) == VALUE + "-2"
    if b.name in FORGETTING:
        with pytest.raises(SecretBackendError):
            b.get("db", 1, first)
    b.delete("db")
    with pytest.raises(SecretBackendError):
        b.get("db", 2, second)
    b.delete("db")
    again = b.put("db", 1, "again")
    assert b.get("db", 1, again) == "again"


def test_an_unknown_secret_or_version_is_a_backend_error(case):
    b = case.backend
    ref = b.put("db", 1, VALUE)
    with pytest.raises(SecretBackendError):
        b.get("nothing-here", 1, ref)
    b.delete("never-created")


FORGED_NAMES = [
    "../db",
    "db/../../keys/x",
    "a/b",
    "db%2F..",
    "DB",
    "db\nx",
    "",
    "x" * 200,
    "db?api-version=1",
]
FORGED_REFS = ["../../keys/master", "1/../../2", "", "1?x=y", "a" * 500, "-1", "0"]


@pytest.mark.parametrize("forged", FORGED_NAMES)
def test_forged_names_are_refused_before_any_request(cloud_case, forged):
    """Given a name no Pilothouse secret can have (traversal, slashes, upper case, control
    characters, 200 characters, a query), a cloud backend refuses it without a request (the
    service checks names too, before a secret reaches any backend)."""
    case = cloud_case
    before = len(case.requests)
    for call in (
        lambda: case.backend.put(forged, 1, VALUE),
        lambda: case.backend.get(forged, 1, "1"),
        lambda: case.backend.delete(forged),
        lambda: case.backend.forget(forged, 1, "1"),
    ):
        with pytest.raises(SecretBackendError) as caught:
            call()
        assert VALUE not in str(caught.value)
    assert len(case.requests) == before


@pytest.mark.parametrize("forged", FORGED_REFS)
def test_forged_references_are_refused_before_any_request(cloud_case, forged):
    """Given a reference that is not one the cloud gave (a traversal, a query, a huge one), the
    backend refuses it without a request (references come from Pilothouse's own metadata)."""
    case = cloud_case
    case.backend.put("db", 1, VALUE)
    before = len(case.requests)
    for call in (
        lambda: case.backend.get("db", 1, forged),
        lambda: case.backend.forget("db", 1, forged),
        lambda: case.backend.runtime_reference("db", 1, forged),
    ):
        with pytest.raises(SecretBackendError):
            call()
    assert len(case.requests) == before


def test_values_never_reach_a_log_line_or_an_error(case, caplog):
    """Given every call at DEBUG on every logger (the SDKs' HTTP logging included), including the
    failing ones, no log line and no error message holds a value."""
    b = case.backend
    errors: list[str] = []
    with caplog.at_level(logging.DEBUG):
        logging.getLogger().setLevel(logging.DEBUG)
        first = b.put("db", 1, VALUE)
        second = b.put("db", 2, VALUE + "-2")
        b.get("db", 1, first)
        b.forget("db", 1, first)
        for call in (lambda: b.get("db", 1, first), lambda: b.get("gone", 2, second)):
            try:
                call()
            except SecretBackendError as exc:
                errors.append(repr(exc) + repr(exc.__cause__) + repr(exc.__context__))
        b.delete("db")
    if b.name in CHECKING:  # the SDKs log each request at DEBUG: the search covers them
        assert caplog.records, "the run logged nothing at DEBUG: the test would prove nothing"
    assert errors
    text = caplog.text + repr([r.args for r in caplog.records]) + "".join(errors)
    assert VALUE not in text
