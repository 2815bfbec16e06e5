"""Envelope encryption (pilothouse.crypto.envelope) over the local keyring and KMS (moto)."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from pilothouse.crypto.envelope import (
    EnvelopeError,
    StreamOpener,
    StreamSealer,
    decode_wrapped,
    encode_wrapped,
    open_sealed,
    open_stream,
    seal,
    seal_stream,
    sealed_key_id,
)
from pilothouse.errors import ConfigurationError
from pilothouse.keyring.local import LocalKeyring, parse_master_keys
from pilothouse.ports.keys import UnknownKey, UnwrapFailed, WrappedKey


def test_seal_open_round_trip_with_fresh_key_and_nonce():
    """Given a keyring, When the same plaintext is sealed twice,
    Then each opens to the plaintext and the two ciphertexts differ (fresh data key and nonce)."""
    ring = LocalKeyring.generate()
    a = seal(ring, b"hunter2", aad=b"secret:a")
    b = seal(ring, b"hunter2", aad=b"secret:a")
    assert a != b
    assert b"hunter2" not in a
    assert open_sealed(ring, a, aad=b"secret:a") == b"hunter2"
    assert open_sealed(ring, b, aad=b"secret:a") == b"hunter2"
    assert sealed_key_id(a) == ring.current_key_id()


def test_other_identity_tamper_truncation_and_other_keyring_refused():
    """Given a sealed value, When it is opened under another identity, with a flipped byte, cut
    short, or with another keyring, Then every attempt raises EnvelopeError."""
    ring = LocalKeyring.generate()
    sealed = seal(ring, b"value", aad=b"secret:a")
    with pytest.raises(EnvelopeError):
        open_sealed(ring, sealed, aad=b"secret:b")
    for i in (0, 10, len(sealed) // 2, len(sealed) - 1):
        bad = bytearray(sealed)
        bad[i] ^= 1
        with pytest.raises(EnvelopeError):
            open_sealed(ring, bytes(bad), aad=b"secret:a")
    for cut in (3, 20, len(sealed) - 1):
        with pytest.raises(EnvelopeError):
            open_sealed(ring, sealed[:cut], aad=b"secret:a")
    with pytest.raises(EnvelopeError, match="does not unwrap"):
        open_sealed(LocalKeyring.generate(), sealed, aad=b"secret:a")


def test_stream_parts_bound_to_index_and_last_flag():
    """Given parts sealed by a StreamSealer, When opened in place they round-trip,
    Then a part moved to another index, a non-last part claimed as last, or another stream's
    header is refused; derived sub-keys agree on both sides."""
    ring = LocalKeyring.generate()
    sealer = StreamSealer(ring, aad=b"backup:b1")
    parts = [sealer.seal_part(i, f"part {i}".encode()) for i in range(3)]
    opener = StreamOpener(ring, sealer.header, aad=b"backup:b1")
    assert [opener.open_part(i, p) for i, p in enumerate(parts)] == [b"part 0", b"part 1", b"part 2"]
    assert opener.derive("manifest") == sealer.derive("manifest") != sealer.derive("other")
    with pytest.raises(EnvelopeError):
        opener.open_part(1, parts[0])
    with pytest.raises(EnvelopeError):
        opener.open_part(2, parts[2], last=True)
    with pytest.raises(EnvelopeError):
        StreamOpener(ring, sealer.header, aad=b"backup:b2").open_part(0, parts[0])
    other = StreamSealer(ring, aad=b"backup:b1")
    with pytest.raises(EnvelopeError):
        StreamOpener(ring, other.header, aad=b"backup:b1").open_part(0, parts[0])


def test_seal_stream_detects_a_dropped_final_frame():
    """Given a sealed stream of three parts, When it is read whole it round-trips,
    Then the same stream without its last frame is refused."""
    ring = LocalKeyring.generate()
    frames = list(seal_stream(ring, iter([b"a" * 10, b"b" * 20, b"c"]), aad=b"s"))
    assert list(open_stream(ring, b"".join(frames), aad=b"s")) == [b"a" * 10, b"b" * 20, b"c"]
    with pytest.raises(EnvelopeError):
        list(open_stream(ring, b"".join(frames[:-1]), aad=b"s"))
    assert list(open_stream(ring, b"".join(seal_stream(ring, iter([]), aad=b"s")), aad=b"s")) == [b""]


def test_wrapped_key_encoding_round_trip_and_malformed():
    """Given a wrapped key, When encoded and decoded it is equal; Then malformed text is refused."""
    w = WrappedKey("k1", os.urandom(40))
    assert decode_wrapped(json.loads(json.dumps(encode_wrapped(w)))) == w
    with pytest.raises(EnvelopeError):
        decode_wrapped({"key_id": "k1", "ciphertext": "not base64!"})
    with pytest.raises(EnvelopeError):
        decode_wrapped("nope")


def test_key_file_created_0600_and_rotation_keeps_old_keys(tmp_path):
    """Given no key file, When the keyring opens, Then it creates one with mode 0600;
    When it rotates, Then new seals use the new key and values sealed before still open,
    also from a second keyring that read the file before the rotation."""
    path = tmp_path / "keys" / "master.json"
    ring = LocalKeyring.open_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    old = seal(ring, b"before", aad=b"x")
    stale = LocalKeyring.open_file(path)
    first = ring.current_key_id()
    second = ring.rotate()
    assert second != first and ring.current_key_id() == second
    new = seal(ring, b"after", aad=b"x")
    assert sealed_key_id(new) == second
    assert open_sealed(ring, old, aad=b"x") == b"before"
    reopened = LocalKeyring.open_file(path)
    assert reopened.current_key_id() == second
    assert open_sealed(reopened, old, aad=b"x") == b"before"
    assert open_sealed(stale, new, aad=b"x") == b"after"  # reloads the file for an unknown id
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert sorted(stored["keys"]) == sorted([first, second]) and stored["current"] == second
    assert all(key not in repr(ring) for key in stored["keys"].values())


def test_key_file_readable_by_others_is_refused(tmp_path):
    """Given a key file with mode 0644, When a keyring opens it, Then it is refused."""
    path = tmp_path / "master.json"
    LocalKeyring.open_file(path)
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        LocalKeyring.open_file(path)


def test_concurrent_first_start_agrees_on_one_key_file(tmp_path):
    """Given eight threads opening the same missing key file at once,
    Then all of them end with the same single current key."""
    path = tmp_path / "k" / "master.json"
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def go() -> None:
        barrier.wait()
        ids.append(LocalKeyring.open_file(path).current_key_id())

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 8 and len(set(ids)) == 1


def test_master_keys_from_settings_and_bad_values():
    """Given PILOTHOUSE_MASTER_KEYS with two keys, Then the last is current unless one is named;
    When a key is short, not base64 or the id is odd, Then a ConfigurationError names the id only."""
    import base64

    k1, k2 = base64.b64encode(os.urandom(32)).decode(), base64.b64encode(os.urandom(32)).decode()
    ring = LocalKeyring.from_settings(f"k1:{k1}, k2:{k2}", None, None)  # type: ignore[arg-type]
    assert ring.current_key_id() == "k2"
    assert LocalKeyring.from_settings(f"k1:{k1},k2:{k2}", "k1", None).current_key_id() == "k1"  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="32 bytes") as info:
        parse_master_keys("short:" + base64.b64encode(b"abc").decode())
    assert "YWJj" not in str(info.value)
    with pytest.raises(ConfigurationError, match="base64"):
        parse_master_keys("k:%%%")
    with pytest.raises(ConfigurationError, match="invalid master key id"):
        parse_master_keys(f"../x:{k1}")
    with pytest.raises(ConfigurationError):
        LocalKeyring.from_settings(f"k1:{k1}", "k9", None).rotate()  # type: ignore[arg-type]
    settings_ring = LocalKeyring.from_settings(f"k1:{k1}", None, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="add a key there"):
        settings_ring.rotate()


def test_local_unwrap_errors():
    """Given a keyring, When asked to unwrap a key of an unknown id or a forged one,
    Then UnknownKey and UnwrapFailed."""
    ring = LocalKeyring.generate()
    with pytest.raises(UnknownKey):
        ring.unwrap(WrappedKey("nope", b"x" * 60))
    wrapped = ring.wrap(os.urandom(32))
    with pytest.raises(UnwrapFailed):
        ring.unwrap(WrappedKey(wrapped.key_id, wrapped.ciphertext[:-1] + b"\x00"))


def test_kms_wrapper_with_moto_and_rotation_to_a_new_key():
    """Given two KMS keys on moto, When values are sealed under the first and the wrapper moves to
    the second, Then new seals name the second key and old ones still open; a keyring that never
    wrapped them cannot open them."""
    from moto import mock_aws

    from pilothouse.keyring.kms import KmsKeyWrapper

    with mock_aws():
        import boto3

        kms = boto3.client("kms", region_name="us-east-1")
        first = kms.create_key()["KeyMetadata"]["Arn"]
        second = kms.create_key()["KeyMetadata"]["Arn"]
        old_wrapper = KmsKeyWrapper(first, client=kms)
        old = seal(old_wrapper, b"v1", aad=b"secret:x")
        assert sealed_key_id(old) == first
        new_wrapper = KmsKeyWrapper(second, client=kms)
        new = seal(new_wrapper, b"v2", aad=b"secret:x")
        assert sealed_key_id(new) == second
        assert open_sealed(new_wrapper, old, aad=b"secret:x") == b"v1"
        assert open_sealed(new_wrapper, new, aad=b"secret:x") == b"v2"
        with pytest.raises(EnvelopeError):
            open_sealed(LocalKeyring.generate(), new, aad=b"secret:x")


def test_wiring_builds_the_master_keys_from_settings(tmp_path):
    """Given settings with a data dir, When services are asked for master_keys, Then they are the
    local keyring of <data_dir>/keys/master.json (0600); Given key_provider=kms without a key id,
    Then a ConfigurationError; the master keys never show in the settings' repr."""
    import base64

    from pilothouse.settings import Settings
    from pilothouse.wiring import Services

    ring = Services(Settings(store="memory", data_dir=tmp_path)).master_keys
    assert isinstance(ring, LocalKeyring)
    assert stat.S_IMODE((tmp_path / "keys" / "master.json").stat().st_mode) == 0o600
    with pytest.raises(ConfigurationError, match="ENVELOPE_KMS_KEY_ID"):
        _ = Services(Settings(store="memory", key_provider="kms")).master_keys
    secret = base64.b64encode(os.urandom(32)).decode()
    settings = Settings.from_environ({"PILOTHOUSE_MASTER_KEYS": f"k1:{secret}"})
    assert secret not in repr(settings)
    assert Services(settings).master_keys.current_key_id() == "k1"
