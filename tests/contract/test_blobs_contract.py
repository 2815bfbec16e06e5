"""The blobs port's contract, run against every adapter: memory, a local directory, S3 on moto.

Each adapter comes from the ``blobs`` fixture (one parameter per adapter). The S3 case runs on a
moto server (one per session, started by the first S3 test) with a fresh bucket per test, made by
``S3Blobs(create_bucket=True)``, and a KMS key made in moto, so that every object is SSE-KMS.
Adapter-specific checks follow the contract suite, at the end of the file.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pilothouse.blobs import (
    BlobError,
    BlobInfo,
    BlobNotFound,
    Blobs,
    InvalidBlobArgument,
    InvalidKey,
    LocalBlobs,
    MemoryBlobs,
)
from tests.support.processes import stop_at_session_end


@dataclass
class BlobsCase:
    blobs: Blobs
    reopen: Callable[[], Blobs] | None = None  # a fresh adapter on the same storage, if durable
    s3: Any = None  # the raw boto3 client, for S3 cases
    bucket: str | None = None
    kms_key_id: str | None = None


def _memory(tmp_path: Path) -> Iterator[BlobsCase]:
    yield BlobsCase(MemoryBlobs())


def _local(tmp_path: Path) -> Iterator[BlobsCase]:
    root = tmp_path / "blobs"
    yield BlobsCase(LocalBlobs(root), lambda: LocalBlobs(root))


_moto: list = []  # [server, kms key arn], started by the first S3 case


def _moto_s3() -> tuple[Any, str]:
    if not _moto:
        from tests.support.moto_server import MotoServer

        server = MotoServer().start()
        stop_at_session_end(server.stop)
        key = server.client("kms").create_key(Description="pilothouse blobs contract")["KeyMetadata"]["Arn"]
        _moto.extend([server, key])
    return _moto[0], _moto[1]


def _s3(tmp_path: Path) -> Iterator[BlobsCase]:
    from pilothouse.blobs.s3 import S3Blobs

    server, key = _moto_s3()
    client = server.client("s3")
    bucket = f"ph-contract-{uuid.uuid4().hex[:12]}"
    blobs = S3Blobs(bucket, client=client, kms_key_id=key, create_bucket=True)
    yield BlobsCase(blobs, lambda: S3Blobs(bucket, client=client, kms_key_id=key), client, bucket, key)


def _azure(tmp_path: Path) -> Iterator[BlobsCase]:
    from pilothouse.blobs.azure_blob import AzureBlobs
    from tests.support.azurite import session_azurite

    connection = session_azurite().connection_string
    container = f"ph-contract-{uuid.uuid4().hex[:12]}"
    blobs = AzureBlobs(container, connection_string=connection, create_container=True)
    yield BlobsCase(blobs, lambda: AzureBlobs(container, connection_string=connection), bucket=container)


# Cloud adapters (GCS) join here.
_gcs: list = []  # the session's gcp-storage-emulator, started by the first GCS case

#: a Cloud KMS key name (the emulator accepts kmsKeyName and does not model CMEK)
GCS_KMS_KEY = "projects/pilothouse-test/locations/global/keyRings/pilothouse/cryptoKeys/blobs"


def _gcs_emulator() -> Any:
    if not _gcs:
        from tests.support.gcs_emulator import GcsEmulator

        _gcs.append(GcsEmulator().start())
        stop_at_session_end(_gcs[0].stop)
    return _gcs[0]


def _gcs_case(tmp_path: Path) -> Iterator[BlobsCase]:
    from pilothouse.blobs.gcs import GcsBlobs

    emulator = _gcs_emulator()
    client = emulator.client()
    bucket = f"ph-contract-{uuid.uuid4().hex[:12]}"
    blobs = GcsBlobs(bucket, client=client, kms_key_name=GCS_KMS_KEY, create_bucket=True)
    yield BlobsCase(
        blobs, lambda: GcsBlobs(bucket, client=client, kms_key_name=GCS_KMS_KEY), None, bucket, GCS_KMS_KEY
    )


# Cloud adapters (Azure Blob) join here.
ADAPTERS: dict[str, Callable[[Path], Iterator[BlobsCase]]] = {
    "memory": _memory,
    "local": _local,
    "s3": _s3,
    "azure-blob": _azure,
    "gcs": _gcs_case,
}


@pytest.fixture(params=sorted(ADAPTERS))
def case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlobsCase]:
    yield from ADAPTERS[request.param](tmp_path)


@pytest.fixture
def blobs(case: BlobsCase) -> Blobs:
    return case.blobs


# -- put, get, head --------------------------------------------------------------------------------


def test_put_then_get_and_head(blobs: Blobs) -> None:
    """Given an empty store, when bytes are put with a content type and metadata,
    then get returns them and head (and put's answer) describe them."""
    before = time.time()
    info = blobs.put(
        "backups/2024/state.db",
        b"\x00\x01data",
        content_type="application/x-sqlite3",
        metadata={"source": "nightly", "schema-version": "7"},
    )

    assert blobs.get("backups/2024/state.db") == b"\x00\x01data"
    head = blobs.head("backups/2024/state.db")
    for described in (info, head):
        assert described.key == "backups/2024/state.db"
        assert described.size == 6
        assert described.etag
        assert described.content_type == "application/x-sqlite3"
        assert described.metadata == {"source": "nightly", "schema-version": "7"}
        assert before - 2 <= described.modified <= time.time() + 2
    assert info.etag == head.etag


def test_defaults_are_octet_stream_and_no_metadata(blobs: Blobs) -> None:
    """Given bytes put without a content type or metadata, when head is asked,
    then the content type is application/octet-stream and the metadata empty."""
    blobs.put("a", b"x")

    head = blobs.head("a")

    assert (head.content_type, head.metadata) == ("application/octet-stream", {})


def test_put_replaces_data_type_and_metadata(blobs: Blobs) -> None:
    """Given an object, when another put uses its key, then data, size, content type and metadata are
    the new ones, and the etag changed."""
    first = blobs.put("k", b"one", content_type="text/plain", metadata={"v": "1"})

    second = blobs.put("k", b"second", content_type="application/json")

    assert blobs.get("k") == b"second"
    head = blobs.head("k")
    assert (head.size, head.content_type, head.metadata) == (6, "application/json", {})
    assert second.etag == head.etag != first.etag


def test_empty_and_binary_and_larger_objects_round_trip(blobs: Blobs) -> None:
    """Given an empty object, all 256 byte values and 3 MiB, when read back, then they are identical."""
    every_byte = bytes(range(256))
    large = every_byte * (3 * 1024 * 1024 // 256)
    blobs.put("empty", b"")
    blobs.put("bytes", every_byte)
    blobs.put("large", large)

    assert blobs.get("empty") == b""
    assert blobs.head("empty").size == 0
    assert blobs.get("bytes") == every_byte
    assert blobs.get("large") == large
    assert blobs.head("large").size == len(large)


def test_a_key_and_keys_below_it_coexist(blobs: Blobs) -> None:
    """Given objects 'a' and 'a/b' (a name and a name 'below' it), when read, then both are there."""
    blobs.put("a", b"top")
    blobs.put("a/b", b"below")
    blobs.put("x.blob/y.meta", b"suffixes")
    blobs.put("x", b"x")

    assert (blobs.get("a"), blobs.get("a/b")) == (b"top", b"below")
    assert (blobs.get("x.blob/y.meta"), blobs.get("x")) == (b"suffixes", b"x")


def test_unusual_but_valid_keys(blobs: Blobs) -> None:
    """Given keys with spaces, unicode, '%', ':' and dots, when put and read, then they round-trip."""
    keys = ["données/été 2024.txt", "100%/a:b", "...dots/.hidden", "a+b=c@d,e;f", "日本/語"]
    for i, key in enumerate(keys):
        blobs.put(key, str(i).encode())

    assert [blobs.get(key) for key in keys] == [str(i).encode() for i in range(len(keys))]
    listed, _ = blobs.list()
    assert sorted(i.key for i in listed) == sorted(keys)


# -- missing objects, delete, exists ---------------------------------------------------------------


def test_missing_key_raises_blob_not_found(blobs: Blobs) -> None:
    """Given no object, when get or head asks for it, then BlobNotFound (a BlobError) names the key."""
    for call in (blobs.get, blobs.head):
        with pytest.raises(BlobNotFound, match="nothing/here") as info:
            call("nothing/here")
        assert isinstance(info.value, BlobError)
        assert info.value.key == "nothing/here"


def test_delete_removes_and_is_idempotent(blobs: Blobs) -> None:
    """Given an object, when deleted (twice), then it is gone and exists says so; deleting a key
    that never existed is fine too."""
    blobs.put("dir/k", b"x")
    assert blobs.exists("dir/k")

    blobs.delete("dir/k")
    blobs.delete("dir/k")
    blobs.delete("never/was")

    assert not blobs.exists("dir/k")
    with pytest.raises(BlobNotFound):
        blobs.get("dir/k")
    assert blobs.list() == ([], None)


def test_deleting_one_key_keeps_its_neighbours(blobs: Blobs) -> None:
    """Given 'a', 'a/b' and 'a/c', when 'a/b' is deleted, then 'a' and 'a/c' remain."""
    for key in ("a", "a/b", "a/c"):
        blobs.put(key, key.encode())

    blobs.delete("a/b")

    assert [i.key for i in blobs.list()[0]] == ["a", "a/c"]


# -- list ------------------------------------------------------------------------------------------


def test_list_is_sorted_and_filtered_by_prefix(blobs: Blobs) -> None:
    """Given keys in two folders, when listing with a prefix, then only keys starting with it come
    back, in UTF-8 byte order, as summaries (size, etag, modified; no type or metadata)."""
    for key in ("logs/b", "logs/a", "logs2/z", "backups/x", "logs/a/deep", "logs/B", "logs/é"):
        blobs.put(key, b"12345", content_type="text/plain", metadata={"m": "1"})

    page, cursor = blobs.list("logs/")

    assert [i.key for i in page] == ["logs/B", "logs/a", "logs/a/deep", "logs/b", "logs/é"]
    assert cursor is None
    head = blobs.head("logs/a")
    assert all(isinstance(i, BlobInfo) for i in page)
    assert (page[1].size, page[1].etag) == (5, head.etag)
    assert abs(page[1].modified - head.modified) < 2
    assert all(i.content_type is None and i.metadata is None for i in page)
    assert [i.key for i in blobs.list("logs")[0]][-1] == "logs2/z"
    assert blobs.list("nothing/") == ([], None)


def test_list_pages_with_a_cursor(blobs: Blobs) -> None:
    """Given 7 keys, when listing 3 at a time following the cursor, then pages of 3, 3 and 1 cover
    every key once, and the last page has no cursor."""
    keys = [f"p/{i:02d}" for i in range(7)]
    for key in reversed(keys):
        blobs.put(key, b"x")

    pages = []
    cursor = None
    while True:
        page, cursor = blobs.list("p/", limit=3, cursor=cursor)
        pages.append([i.key for i in page])
        if cursor is None:
            break

    assert pages == [keys[0:3], keys[3:6], keys[6:7]]


def test_list_exact_page_has_no_dangling_cursor_or_an_empty_last_page(blobs: Blobs) -> None:
    """Given 4 keys, when listing 2 at a time, then at most one extra (empty) page follows the second."""
    for i in range(4):
        blobs.put(f"q/{i}", b"x")

    first, cursor = blobs.list("q/", limit=2)
    second, cursor = blobs.list("q/", limit=2, cursor=cursor)
    rest: list[BlobInfo] = []
    if cursor is not None:
        rest, cursor = blobs.list("q/", limit=2, cursor=cursor)

    assert [i.key for i in first + second] == ["q/0", "q/1", "q/2", "q/3"]
    assert rest == [] and cursor is None


# -- validation ------------------------------------------------------------------------------------


BAD_KEYS = ["", "/abs", "a/../b", "..", ".", "a//b", "a/", "./a", "a/./b", "back\\slash", "nl\nx", "x" * 1025]


@pytest.mark.parametrize("key", BAD_KEYS, ids=range(len(BAD_KEYS)))
def test_invalid_keys_are_rejected_everywhere(blobs: Blobs, key: str) -> None:
    """Given an invalid key, when any operation uses it, then InvalidKey (a BlobError) is raised."""
    calls = [
        lambda: blobs.put(key, b"x"),
        lambda: blobs.get(key),
        lambda: blobs.head(key),
        lambda: blobs.delete(key),
        lambda: blobs.exists(key),
    ]
    for call in calls:
        with pytest.raises(InvalidKey):
            call()
    assert issubclass(InvalidKey, BlobError)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": "text, not bytes"},
        {"metadata": {"Upper": "x"}},
        {"metadata": {"ok": "non-ascii é"}},
        {"metadata": {"big": "x" * 3000}},
        {"content_type": ""},
    ],
    ids=["str-data", "metadata-name", "metadata-value", "metadata-size", "content-type"],
)
def test_invalid_put_arguments_are_rejected(blobs: Blobs, kwargs: dict) -> None:
    """Given data that is not bytes or metadata S3 cannot keep as given, when put,
    then InvalidBlobArgument is raised and nothing is stored."""
    kwargs = dict(kwargs)  # the parameter is shared by every adapter
    data = kwargs.pop("data", b"x")
    with pytest.raises(InvalidBlobArgument):
        blobs.put("k", data, **kwargs)
    assert not blobs.exists("k")


def test_list_arguments_are_checked(blobs: Blobs) -> None:
    """Given a store, when list asks for 0 or 1001 keys or a prefix starting with '/', then a BlobError."""
    for kwargs in ({"limit": 0}, {"limit": 1001}, {"prefix": "/x"}):
        with pytest.raises(BlobError):
            blobs.list(**kwargs)


# -- durability ------------------------------------------------------------------------------------


def test_objects_survive_a_reopen(case: BlobsCase) -> None:
    """Given a durable adapter holding an object, when a fresh adapter opens the same storage,
    then the object, its type and metadata are there."""
    if case.reopen is None:
        pytest.skip("adapter is not durable")
    case.blobs.put("kept", b"data", content_type="text/plain", metadata={"a": "b"})

    reopened = case.reopen()

    assert reopened.get("kept") == b"data"
    head = reopened.head("kept")
    assert (head.content_type, head.metadata) == ("text/plain", {"a": "b"})


# -- S3 on moto: encryption and bucket settings ----------------------------------------------------


@pytest.fixture
def s3_case(tmp_path: Path) -> Iterator[BlobsCase]:
    yield from _s3(tmp_path)


def test_s3_objects_are_encrypted_with_the_kms_key(s3_case: BlobsCase) -> None:
    """Given an S3 adapter with a KMS key, when an object is put, then S3 reports SSE-KMS with that key."""
    s3_case.blobs.put("secret", b"x")

    answer = s3_case.s3.head_object(Bucket=s3_case.bucket, Key="secret")

    assert answer["ServerSideEncryption"] == "aws:kms"
    assert answer["SSEKMSKeyId"] == s3_case.kms_key_id


def test_s3_without_a_kms_key_uses_sse_s3(s3_case: BlobsCase) -> None:
    """Given an S3 adapter without a KMS key, when an object is put, then S3 reports AES256."""
    from pilothouse.blobs.s3 import S3Blobs

    S3Blobs(s3_case.bucket, client=s3_case.s3).put("plain", b"x")

    answer = s3_case.s3.head_object(Bucket=s3_case.bucket, Key="plain")
    assert answer["ServerSideEncryption"] == "AES256"
    assert "SSEKMSKeyId" not in answer


def test_s3_created_bucket_is_versioned_and_private(s3_case: BlobsCase) -> None:
    """Given a bucket made by create_bucket=True, then versioning is on and all public access blocked;
    a second adapter with create_bucket=True on it is fine."""
    from pilothouse.blobs.s3 import S3Blobs

    S3Blobs(s3_case.bucket, client=s3_case.s3, create_bucket=True)

    assert s3_case.s3.get_bucket_versioning(Bucket=s3_case.bucket)["Status"] == "Enabled"
    block = s3_case.s3.get_public_access_block(Bucket=s3_case.bucket)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_s3_delete_keeps_earlier_versions(s3_case: BlobsCase) -> None:
    """Given a versioned bucket with an object written twice, when deleted, then get fails but both
    versions are still in the bucket (behind a delete marker)."""
    s3_case.blobs.put("v", b"1")
    s3_case.blobs.put("v", b"2")

    s3_case.blobs.delete("v")

    with pytest.raises(BlobNotFound):
        s3_case.blobs.get("v")
    versions = s3_case.s3.list_object_versions(Bucket=s3_case.bucket, Prefix="v")
    assert len(versions.get("Versions", [])) == 2
    assert len(versions.get("DeleteMarkers", [])) == 1


def test_s3_missing_bucket_is_an_s3_error_with_its_code(s3_case: BlobsCase) -> None:
    """Given a bucket that does not exist, when listing, then an S3Error carries AWS's code."""
    from pilothouse.blobs.s3 import S3Blobs, S3Error

    with pytest.raises(S3Error) as info:
        S3Blobs(f"missing-{uuid.uuid4().hex[:8]}", client=s3_case.s3).list()
    assert info.value.code == "NoSuchBucket"


# -- local directory: the files ---------------------------------------------------------------------


def test_local_files_are_readable_and_no_temporary_files_remain(tmp_path: Path) -> None:
    """Given a local store, when objects are put, replaced and deleted, then each object is a file at its
    key's path (plus a JSON sidecar), no temporary files remain, and emptied directories are removed."""
    root = tmp_path / "blobs"
    blobs = LocalBlobs(root)
    blobs.put("backups/2024-05-01/state.db", b"v1")
    blobs.put("backups/2024-05-01/state.db", b"v2", metadata={"k": "v"})
    blobs.put("gone/soon", b"x")
    blobs.delete("gone/soon")

    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == ["backups/2024-05-01/state.db.blob", "backups/2024-05-01/state.db.meta"]
    assert (root / "backups/2024-05-01/state.db.blob").read_bytes() == b"v2"
    assert not (root / "gone").exists()


def test_local_data_replaced_behind_the_sidecar_is_still_described_right(tmp_path: Path) -> None:
    """Given a local object whose data file was replaced without its sidecar (a crash between the two
    renames), when head is asked, then size and etag describe the data actually there."""
    root = tmp_path / "blobs"
    blobs = LocalBlobs(root)
    old = blobs.put("k", b"old")
    (root / "k.blob").write_bytes(b"newer data")

    head = blobs.head("k")

    assert head.size == 10
    assert head.etag != old.etag
    assert blobs.get("k") == b"newer data"


# -- Azure Blob Storage on Azurite: encryption settings and metadata names -------------------------


def test_azure_puts_ask_for_the_encryption_scope_and_keep_metadata_names() -> None:
    """Given an adapter with an encryption scope, When a blob with metadata named with '-' and '_' is
    put, Then the upload request names the scope (Azurite accepts it without applying scopes) and the
    names, stored as C# identifiers on Azure, read back as given."""
    from azure.storage.blob import ContainerClient

    from pilothouse.blobs.azure_blob import AzureBlobs
    from tests.support.azurite import session_azurite

    connection = session_azurite().connection_string
    seen: list[tuple[str, str | None]] = []

    def hook(request) -> None:
        seen.append((request.http_request.method, request.http_request.headers.get("x-ms-encryption-scope")))

    container = f"ph-scope-{uuid.uuid4().hex[:12]}"
    blobs = AzureBlobs(
        container,
        connection_string=connection,
        encryption_scope="pilothouse-cmk",
        create_container=True,
        client_options={"raw_request_hook": hook},
    )
    blobs.put("k", b"x", metadata={"schema-version": "7", "a_b": "1", "0x": "2"})

    assert ("PUT", "pilothouse-cmk") in seen
    assert blobs.head("k").metadata == {"schema-version": "7", "a_b": "1", "0x": "2"}
    raw = (
        ContainerClient.from_connection_string(connection, container)
        .get_blob_client("k")
        .get_blob_properties()
    )
    assert all(name.isidentifier() for name in raw.metadata)


def test_azure_settings_are_checked() -> None:
    """Given a customer-provided key over plain HTTP, a key of the wrong size, or a key with a scope,
    When an adapter is made, Then InvalidBlobArgument says why (Azure takes such keys only over HTTPS)."""
    from pilothouse.blobs.azure_blob import AzureBlobs
    from tests.support.azurite import session_azurite

    connection = session_azurite().connection_string
    for kwargs in (
        {"customer_key": b"k" * 32},
        {"customer_key": b"short"},
        {"customer_key": b"k" * 32, "encryption_scope": "s"},
    ):
        with pytest.raises(InvalidBlobArgument):
            AzureBlobs("ph-any", connection_string=connection, **kwargs)


# -- Cloud Storage (on gcp-storage-emulator): what the contract cannot see ---------------------------


@pytest.fixture
def gcs_requests() -> Iterator[tuple[Any, list[tuple[str, str, Any]]]]:
    """A storage client on the emulator whose requests (method, URL, JSON body) are recorded: the
    emulator accepts and ignores CMEK and bucket IAM settings, so the tests read what was asked."""
    client = _gcs_emulator().client()
    sent: list[tuple[str, str, Any]] = []
    session = client._http
    real = session.request

    def record(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        sent.append((method, url, kwargs.get("json") or kwargs.get("data")))
        return real(method, url, *args, **kwargs)

    session.request = record
    yield client, sent


def test_gcs_uploads_ask_for_the_kms_key(gcs_requests) -> None:
    """Given a GCS adapter with a Cloud KMS key (CMEK), when an object is put, then its upload names
    the key (kmsKeyName), and an adapter without one names none."""
    from urllib.parse import parse_qs, urlparse

    from pilothouse.blobs.gcs import GcsBlobs

    client, sent = gcs_requests
    bucket = f"ph-cmek-{uuid.uuid4().hex[:12]}"
    GcsBlobs(bucket, client=client, kms_key_name=GCS_KMS_KEY, create_bucket=True).put("secret", b"x")
    GcsBlobs(bucket, client=client).put("plain", b"x")

    uploads = [parse_qs(urlparse(url).query) for method, url, _ in sent if "/upload/" in url]
    assert len(uploads) == 2
    assert uploads[0]["kmsKeyName"] == [GCS_KMS_KEY]
    assert "kmsKeyName" not in uploads[1]


def test_gcs_created_bucket_is_private_with_the_default_key(gcs_requests) -> None:
    """Given create_bucket=True, when the adapter creates its bucket, then it asks for uniform
    bucket-level access, enforced public access prevention and the KMS key as default."""
    from pilothouse.blobs.gcs import GcsBlobs

    client, sent = gcs_requests
    GcsBlobs(f"ph-new-{uuid.uuid4().hex[:12]}", client=client, kms_key_name=GCS_KMS_KEY, create_bucket=True)

    [(_, _, body)] = [(m, u, b) for m, u, b in sent if m == "POST" and u.split("?")[0].endswith("/b")]
    body = json.loads(body) if isinstance(body, str | bytes) else body
    assert body["iamConfiguration"]["uniformBucketLevelAccess"]["enabled"] is True
    assert body["iamConfiguration"]["publicAccessPrevention"] == "enforced"
    assert body["encryption"] == {"defaultKmsKeyName": GCS_KMS_KEY}


def test_gcs_cursor_not_handed_out_is_refused(gcs_requests) -> None:
    """Given a GCS adapter, when list gets a cursor that is not one it handed out, then a BlobError."""
    from pilothouse.blobs.gcs import GcsBlobs

    client, _ = gcs_requests
    blobs = GcsBlobs(f"ph-cur-{uuid.uuid4().hex[:12]}", client=client, create_bucket=True)
    with pytest.raises(BlobError):
        blobs.list(cursor="!!not base64!!")
