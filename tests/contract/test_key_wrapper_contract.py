"""The key port's contract (:mod:`pilothouse.ports.keys`), run on every wrapper through envelope
encryption: the local keyring, AWS KMS (moto), an Azure Key Vault key (RSA-OAEP-256 and A256KW,
on the HTTPS fake of tests/support/keyvault_server.py) and a Cloud KMS key (the REST fake of
tests/support/gcp_secrets_server.py), each on 127.0.0.1 or in process."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest

from pilothouse.crypto.envelope import EnvelopeError, open_sealed, seal, sealed_key_id
from pilothouse.ports.keys import KeyError_, KeyWrapper, UnknownKey, UnwrapFailed, WrappedKey

AAD = b"pilothouse-secret:db:1"
WRAPPERS = ["local", "kms", "keyvault-rsa", "keyvault-aeskw", "gcpkms"]


@dataclass
class Case:
    name: str
    wrapper: KeyWrapper
    #: a new current key (version); new wraps use it, older ones stay usable
    rotate: Callable[[], None]
    #: make the version that wrapped ``key_id`` unusable (disabled), where the service can
    disable: Callable[[str], None] | None
    #: the request log of the fake (empty where there is none)
    requests: list[Any]
    #: the id of a version of *another* key of the same vault or key ring, where there is one
    sibling: str | None = None


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


@pytest.fixture(params=WRAPPERS)
def case(request, loopback_only) -> Iterator[Case]:
    yield from _case(request.param, request)


@pytest.fixture(params=["keyvault-rsa", "gcpkms"])
def cloud_case(request, loopback_only) -> Iterator[Case]:
    yield from _case(request.param, request)


def _case(name: str, request: Any) -> Iterator[Case]:
    if name == "local":
        from pilothouse.keyring.local import LocalKeyring

        ring = LocalKeyring.open_file(request.getfixturevalue("tmp_path") / "keys" / "master.json")
        yield Case(name, ring, lambda: ring.rotate() and None, None, [])
    elif name == "kms":
        from moto import mock_aws

        from pilothouse.keyring.kms import KmsKeyWrapper

        with mock_aws():
            import boto3

            kms = boto3.client("kms", region_name="us-east-1")
            wrapper = KmsKeyWrapper(kms.create_key()["KeyMetadata"]["Arn"], client=kms)

            def rotate_kms() -> None:
                wrapper._key_id = kms.create_key()["KeyMetadata"]["Arn"]

            def disable_kms(key_id: str) -> None:
                kms.disable_key(KeyId=key_id.rsplit("/", 1)[-1])

            yield Case(name, wrapper, rotate_kms, disable_kms, [])
    elif name.startswith("keyvault"):
        from pilothouse.keyring.azure_keyvault import KeyVaultKeyWrapper

        vault = request.getfixturevalue("keyvault")
        kty, algorithm = ("RSA", "RSA-OAEP-256") if name == "keyvault-rsa" else ("oct-HSM", "A256KW")
        key_name = f"envelope-{kty.lower().replace('-', '')}-{os.urandom(4).hex()}"
        vault.create_key(key_name, kty)
        wrapper = KeyVaultKeyWrapper(
            vault.url,
            key_name,
            algorithm=algorithm,
            credential=vault.credential(),
            client_options=vault.client_options(),
            refresh_seconds=0,  # follow a rotation at once (the default re-reads every 5 minutes)
        )

        def disable_kv(key_id: str) -> None:
            vault.disable_key_version(key_name, key_id.rsplit("/", 1)[1])

        yield Case(
            name, wrapper, lambda: vault.create_key(key_name, kty) and None, disable_kv, vault.requests
        )
    else:
        from pilothouse.keyring.gcp_kms import GcpKmsKeyWrapper

        fake = request.getfixturevalue("gcp")
        key_name = fake.create_key("pilothouse-test", "global", "ring", f"envelope-{os.urandom(4).hex()}")
        wrapper = GcpKmsKeyWrapper(key_name, client=fake.kms_client())
        sibling = fake.create_key("pilothouse-test", "global", "ring", f"other-{os.urandom(4).hex()}")

        def disable_gcp(key_id: str) -> None:
            fake.set_version_state(key_id, "DISABLED")

        yield Case(
            name,
            wrapper,
            lambda: fake.rotate(key_name) and None,
            disable_gcp,
            fake.requests,
            sibling=f"{sibling}/cryptoKeyVersions/1",
        )


def test_wraps_happen_in_the_vault(cloud_case):
    """Given a Key Vault or Cloud KMS key, a wrap and an unwrap are each a request to the service
    (RSA's wrap may be local with the public key; A256KW and Cloud KMS never are)."""
    before = len(cloud_case.requests)
    wrapped = cloud_case.wrapper.wrap(os.urandom(32))
    cloud_case.wrapper.unwrap(wrapped)
    paths = " ".join(str(r[1]) for r in cloud_case.requests[before:])
    assert ("unwrapkey" in paths) or (":decrypt" in paths)


def test_symmetric_key_vault_wraps_never_happen_locally(request, loopback_only):
    """Given an oct-HSM key (A256KW), every wrap is a wrapKey request to the vault: the SDK would
    otherwise wrap with a random local key no other process can unwrap with."""
    case = next(_case("keyvault-aeskw", request))
    before = len(case.requests)
    data_key = os.urandom(32)
    wrapped = case.wrapper.wrap(data_key)
    assert any(r[1].endswith("/wrapkey") for r in case.requests[before:])
    from pilothouse.keyring.azure_keyvault import KeyVaultKeyWrapper

    fresh = KeyVaultKeyWrapper(
        case.wrapper.vault_url,  # type: ignore[attr-defined]
        case.wrapper.key_name,  # type: ignore[attr-defined]
        algorithm="A256KW",
        credential=request.getfixturevalue("keyvault").credential(),
        client_options=request.getfixturevalue("keyvault").client_options(),
    )
    assert fresh.unwrap(wrapped) == data_key  # another process (a fresh client) unwraps it


@pytest.mark.parametrize("first", ["keyvault-rsa", "keyvault-aeskw"])
def test_switching_the_key_vault_algorithm_keeps_older_data_keys(first, request, loopback_only):
    """Given a data key wrapped with an RSA key (RSA-OAEP-256) or an oct-HSM key (A256KW), When the
    wrapper is configured with the other algorithm and another key, Then the older data key still
    unwraps (with its own algorithm, at its own key version) and new ones use the new setting."""
    from pilothouse.keyring.azure_keyvault import KeyVaultKeyWrapper

    old = next(_case(first, request))
    data_key = os.urandom(32)
    wrapped = old.wrapper.wrap(data_key)
    vault = request.getfixturevalue("keyvault")
    kty, algorithm = ("oct-HSM", "A256KW") if first == "keyvault-rsa" else ("RSA", "RSA-OAEP-256")
    key_name = f"switched-{os.urandom(4).hex()}"
    vault.create_key(key_name, kty)
    switched = KeyVaultKeyWrapper(
        vault.url,
        key_name,
        algorithm=algorithm,
        credential=vault.credential(),
        client_options=vault.client_options(),
    )
    assert switched.unwrap(wrapped) == data_key
    newer = os.urandom(32)
    rewrapped = switched.wrap(newer)
    assert f"/keys/{key_name}/" in rewrapped.key_id
    assert old.wrapper.unwrap(rewrapped) == newer  # and the other way round


def test_seal_and_open_with_the_key_id_recorded(case):
    sealed = seal(case.wrapper, b"value-1", aad=AAD)
    assert open_sealed(case.wrapper, sealed, aad=AAD) == b"value-1"
    key_id = sealed_key_id(sealed)
    assert key_id
    if case.name.startswith(("keyvault", "gcpkms")):
        assert key_id.rsplit("/", 2)[-2] in ("cryptoKeyVersions",) or "/keys/" in key_id  # a version
    with pytest.raises(EnvelopeError):
        open_sealed(case.wrapper, sealed, aad=b"pilothouse-secret:db:2")


def test_after_rotation_new_seals_name_the_new_key_and_old_ones_still_open(case):
    old = seal(case.wrapper, b"before", aad=AAD)
    case.rotate()
    new = seal(case.wrapper, b"after", aad=AAD)
    assert sealed_key_id(new) != sealed_key_id(old)
    assert open_sealed(case.wrapper, old, aad=AAD) == b"before"
    assert open_sealed(case.wrapper, new, aad=AAD) == b"after"


def test_a_tampered_wrapped_key_is_refused(case):
    wrapped = case.wrapper.wrap(os.urandom(32))
    flipped = bytes([wrapped.ciphertext[0] ^ 0x01]) + wrapped.ciphertext[1:]
    for forged in (flipped, wrapped.ciphertext[:-1], wrapped.ciphertext + b"\x00", b"", os.urandom(600)):
        with pytest.raises(KeyError_):
            case.wrapper.unwrap(replace(wrapped, ciphertext=forged))


def test_unwrap_with_another_key_version_is_refused(case):
    """Given a data key wrapped by one version and a wrapped key naming another version (or a
    version that does not exist), unwrap refuses: UnwrapFailed or UnknownKey, never a wrong key.
    (Cloud KMS reads the version from the ciphertext itself: naming another version of the same
    key still gives the right data key; naming another *key* is refused, through the additional
    authenticated data.)"""
    data_key = os.urandom(32)
    wrapped = case.wrapper.wrap(data_key)
    case.rotate()
    other = case.wrapper.wrap(os.urandom(32))
    assert other.key_id != wrapped.key_id
    if case.sibling is not None:  # Cloud KMS: the version is in the ciphertext; another key refuses
        with pytest.raises(UnwrapFailed):
            case.wrapper.unwrap(replace(wrapped, key_id=case.sibling))
    else:  # another version (or key) of the same vault: refused, never another data key
        with pytest.raises(KeyError_):
            assert case.wrapper.unwrap(replace(wrapped, key_id=other.key_id)) != data_key
    if case.name == "gcpkms":
        # a version of the same key that did not wrap it: Cloud KMS decrypts with the version the
        # ciphertext names, so the answer is the right data key (never another one)
        assert case.wrapper.unwrap(replace(wrapped, key_id=other.key_id)) == data_key
    else:
        with pytest.raises(KeyError_):
            case.wrapper.unwrap(replace(wrapped, key_id=wrapped.key_id[:-6] + "abcdef"))
    assert case.wrapper.unwrap(wrapped) == data_key


def test_a_disabled_key_version_is_an_unknown_key(case):
    if case.disable is None:
        pytest.skip("the local keyring has no disabled keys: a removed key is another test's")
    if case.name == "kms":
        pytest.skip("moto's KMS decrypts with a disabled key (real KMS answers DisabledException)")
    wrapped = case.wrapper.wrap(os.urandom(32))
    case.rotate()
    case.disable(wrapped.key_id)
    with pytest.raises(UnknownKey):
        case.wrapper.unwrap(wrapped)
    assert case.wrapper.unwrap(case.wrapper.wrap(b"k" * 32)) == b"k" * 32  # the new version works


FOREIGN = [
    "https://169.254.169.254/keys/envelope/abc",
    "https://evil.example/keys/envelope/abc",
    "http://127.0.0.1:1/keys/envelope/abc",
    "https://127.0.0.1:1/keys/envelope/abc",
    "{vault}/keys/../secrets/db/abc",
    "{vault}/keys/envelope/abc?x=1",
    "{vault}/keys/envelope",
    "projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/../../k2",
    "projects/p/locations/l/keyRings/r/cryptoKeys/k",
    "",
    "x" * 5000,
]


@pytest.mark.parametrize("forged", FOREIGN)
def test_a_forged_key_id_makes_no_request(cloud_case, forged):
    """Given a wrapped key naming a key outside this wrapper's vault or key ring (metadata
    addresses, another host, plain HTTP, traversal), unwrap refuses it without a request: a wrapped
    key cannot send the identity's token anywhere. (The local keyring looks its ids up in itself.)"""
    case = cloud_case
    vault = getattr(case.wrapper, "vault_url", "https://127.0.0.1:1")
    before = len(case.requests)
    with pytest.raises(UnknownKey):
        case.wrapper.unwrap(WrappedKey(forged.format(vault=vault), os.urandom(256)))
    assert len(case.requests) == before


def test_data_keys_never_reach_a_log_line(case, caplog):
    """Given a wrap, an unwrap and a refused unwrap at DEBUG on every logger (the SDKs' HTTP
    logging and botocore's included), no log line or error holds the data key in any encoding."""
    data_key = os.urandom(32)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger().setLevel(logging.DEBUG)
        wrapped = case.wrapper.wrap(data_key)
        assert case.wrapper.unwrap(wrapped) == data_key
        with pytest.raises(KeyError_) as caught:
            case.wrapper.unwrap(replace(wrapped, ciphertext=wrapped.ciphertext[:-1]))
    text = caplog.text + repr([r.args for r in caplog.records]) + repr(caught.value)
    for form in (
        data_key.hex(),
        base64.b64encode(data_key).decode(),
        base64.urlsafe_b64encode(data_key).decode().rstrip("="),
    ):
        assert form not in text


@pytest.mark.parametrize("round_", range(int(os.environ.get("PILOTHOUSE_RACE_ROUNDS", "1"))))
@pytest.mark.parametrize("name", ["keyvault-rsa", "gcpkms"])
def test_concurrent_seals_while_the_key_rotates(name, round_, request, loopback_only):
    """Given 8 threads sealing and opening (5 each) while another rotates the key 5 times (once
    between their first 2 and their last 3; the Key Vault wrapper re-reading the current version
    on every wrap), every envelope opens to its value and the seals after a rotation use a new key.
    (PILOTHOUSE_RACE_ROUNDS=50 repeats it, for the race loop.)"""
    import threading

    case = next(_case(name, request))
    failures: list[BaseException] = []
    ids: list[str] = []
    lock = threading.Lock()
    start, halfway, resume = threading.Barrier(9), threading.Barrier(9), threading.Barrier(9)

    def seal_some(n: int, rounds: range) -> None:
        for i in rounds:
            value = f"{n}-{i}".encode()
            sealed = seal(case.wrapper, value, aad=AAD)
            with lock:
                ids.append(sealed_key_id(sealed))
            assert open_sealed(case.wrapper, sealed, aad=AAD) == value

    def worker(n: int) -> None:
        try:
            start.wait(60)
            seal_some(n, range(2))
            halfway.wait(60)
            resume.wait(60)  # the key has rotated once: the rest race further rotations
            seal_some(n, range(2, 5))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    start.wait(60)
    halfway.wait(60)
    case.rotate()
    resume.wait(60)
    for _ in range(4):
        case.rotate()
    for t in threads:
        t.join(60)
    assert not failures, failures[:3]
    assert len(ids) == 40 and all(not t.is_alive() for t in threads)
    assert len(set(ids)) >= 2, "the seals after the rotation did not use the new key"
