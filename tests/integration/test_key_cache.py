"""API-key records cached per thread (services.key_cache): a revocation, a demotion or a deletion
still takes effect at the very next request, whichever process or thread wrote it.

The store side first (``Store.change_stamp`` moves on every commit, seen from every thread and
process), then through the functions and the real gateway: revoke through the API, through the
CLI (another process, over HTTP), and straight in the store from another process; and a revocation
in the middle of concurrent readers, after which no request that starts is served.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from pilothouse.embedded.gateway import GatewayServer, LocalGateway
from pilothouse.ports import Item, Put
from pilothouse.services import key_cache
from pilothouse.store.memory import MemoryStore
from pilothouse.store.sqlite import SqliteStore
from tests.support.controlplane import ROOT
from tests.support.e2e import Cli


def make_key(api, role: str) -> dict:
    status, _, body = api.post("/v1/api-keys", {"name": f"{role}-key", "role": role})
    assert status == 201, body
    return body


REVOKE = "from pilothouse.services.keys import revoke_key\nrevoke_key(services, {!r})\n"


def in_another_process(code: str) -> None:
    """Run ``code`` in a fresh interpreter on this test's data dir (the environment is inherited),
    with ``services`` built from the settings as any control-plane process builds them."""
    prelude = (
        "from pilothouse.settings import get_settings\n"
        "from pilothouse.wiring import get_services\n"
        "services = get_services(get_settings())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


# -- the store's stamp ------------------------------------------------------------------------------


def test_sqlite_stamp_moves_on_every_commit_from_any_thread_store_or_process(tmp_path):
    path = tmp_path / "store.db"
    store, other = SqliteStore(path), SqliteStore(path)
    first = store.change_stamp()
    assert store.change_stamp() == first  # nothing written: the same stamp
    store.get("P", "a")
    assert store.change_stamp() == first  # reads move nothing
    store.put(Item("P", "a", {"n": 1}))  # this thread's own connection
    second = store.change_stamp()
    assert second != first
    threading.Thread(target=lambda: store.put(Item("P", "a", {"n": 2}))).start()
    time.sleep(0.2)
    third = store.change_stamp()
    assert third != second  # another thread of this process
    other.put(Item("P", "b", {"n": 1}))  # another store object on the same file
    fourth = store.change_stamp()
    assert fourth != third
    code = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute(\"UPDATE items SET data = '{\\\"n\\\": 9}', version = version + 1 WHERE sk = 'a'\")\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=60)
    assert store.change_stamp() != fourth  # another process, by plain SQL even
    store.close()
    other.close()


def test_sqlite_stamp_moves_after_a_failed_write_too(tmp_path):
    """A refused conditional write moves the stamp as well: harmless (one more read), never stale."""
    from pilothouse.errors import AlreadyExists

    store = SqliteStore(tmp_path / "store.db")
    store.put(Item("P", "a", {}))
    before = store.change_stamp()
    with pytest.raises(AlreadyExists):
        store.put(Item("P", "a", {}), if_absent=True)
    assert store.change_stamp() != before
    store.close()


def _in_a_thread(work) -> None:
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()


def test_sqlite_partition_stamp_stays_for_this_threads_writes_elsewhere_and_moves_for_the_rest(tmp_path):
    """Given a partition's stamp, When this thread writes another partition, Then it stays (a
    register does not make the next request read its key again); When anything writes the
    partition, or another connection (thread, store object, process) commits anything, or a bulk
    write (a load, a purge) may have written it, Then it moves."""
    path = tmp_path / "store.db"
    store, other = SqliteStore(path), SqliteStore(path)
    stamp = store.change_stamp("APIKEY")
    store.put(Item("COMPONENT#a", "#", {}))
    store.transact([Put(Item("COMPONENT#b", "#", {})), Put(Item("OUTBOX-DIRTY#01", "x", {}))])
    assert store.change_stamp("APIKEY") == stamp
    for write in (
        lambda: store.put(Item("APIKEY", "k", {"n": 1})),
        lambda: store.transact([Put(Item("APIKEY", "k", {"n": 2})), Put(Item("P", "x", {}))]),
        lambda: store.delete("APIKEY", "k"),
        lambda: store.transact_each([[Put(Item("APIKEY", "j", {}))], [Put(Item("P", "y", {}))]]),
        lambda: store.load([Item("Q", "z", {}, 1)]),
        lambda: store.purge_expired(),
        lambda: _in_a_thread(lambda: store.put(Item("P", "t", {}))),
        lambda: other.put(Item("P", "o", {})),
    ):
        write()
        assert store.change_stamp("APIKEY") != stamp
        stamp = store.change_stamp("APIKEY")
    store.close()
    other.close()


def _raw(path) -> sqlite3.Connection:
    """A connection of its own to the store's file, outside the store (as another process's)."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


def _raw_put(conn: sqlite3.Connection, pk: str, sk: str) -> None:
    conn.execute(
        "INSERT INTO items (pk, sk, version, data) VALUES (?, ?, 1, '{}')"
        " ON CONFLICT (pk, sk) DO UPDATE SET version = version + 1",
        (pk, sk),
    )


def _pragmas(store: SqliteStore) -> list[str]:
    """The data_version pragmas this thread's connection of ``store`` runs from now on."""
    seen: list[str] = []
    store._conn().set_trace_callback(lambda sql: seen.append(sql) if "data_version" in sql else None)
    return seen


def test_sqlite_pinned_stamps_ask_once_and_a_stamp_after_the_pin_sees_what_others_committed(tmp_path):
    """Given a pin (one request), When two stamps are taken, Then the store is asked once; When
    another connection commits inside it, Then stamps inside stay (the request happened at its
    first stamp) and the first stamp after it moves; this thread's own writes move its stamps
    inside as outside; a nested pin is the outer one's."""
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    other = _raw(path)
    asked = _pragmas(store)
    with store.pinned_stamps():
        first = store.change_stamp("APIKEY")
        assert store.change_stamp("POLICY") is not None and len(asked) == 1
        _raw_put(other, "APIKEY", "k")  # another connection commits (as another process would)
        assert store.change_stamp("APIKEY") == first
        with store.pinned_stamps():  # nested: the same pin
            assert store.change_stamp("APIKEY") == first
        assert store.change_stamp("APIKEY") == first  # the inner block's end keeps the outer pin
        store.put(Item("APIKEY", "j", {}))  # this thread's own write moves it at once
        own = store.change_stamp("APIKEY")
        assert own != first
        assert len(asked) == 1
    after = store.change_stamp("APIKEY")
    assert after != own and after != first and len(asked) == 2  # asked again, and it moved
    assert store.change_stamp("APIKEY") == after and len(asked) == 3  # outside: asked every time
    with store.pinned_stamps():  # a new pin asks again
        assert store.change_stamp("APIKEY") == after and len(asked) == 4
    store.close()
    other.close()


def test_sqlite_pins_are_per_thread(tmp_path):
    """A pin of one thread leaves another thread's stamps unpinned."""
    path = tmp_path / "store.db"
    store = SqliteStore(path)
    other = _raw(path)
    with store.pinned_stamps():
        mine = store.change_stamp()
        _raw_put(other, "P", "a")
        outside: list = []
        _in_a_thread(
            lambda: outside.extend([store.change_stamp(), _raw_put(other, "P", "b"), store.change_stamp()])
        )
        assert outside[0] != outside[2]  # the other thread's stamps moved with the commit
        assert store.change_stamp() == mine
    assert store.change_stamp() != mine
    store.close()
    other.close()


def test_memory_store_pins_are_no_ops():
    store = MemoryStore()
    with store.pinned_stamps(), store.pinned_stamps():
        before = store.change_stamp()
        store.put(Item("P", "a", {}))
        assert store.change_stamp() != before


def test_a_key_kept_across_writes_elsewhere_is_refused_once_revoked_by_another_process(api):
    """Given a key whose record this thread keeps while it registers components (writes to other
    partitions), When another process revokes it, Then the very next request is 401."""
    from tests.support.specs import spec

    deployer = make_key(api, "deployer")
    for i in range(3):
        assert api.post("/v1/components", spec(f"kept{i}"), key=deployer["key"])[0] == 201
    in_another_process(REVOKE.format(deployer["id"]))
    status, _, problem = api.post("/v1/components", spec("kept9"), key=deployer["key"])
    assert status == 401 and "revoked" in problem["detail"]


def test_memory_stamp_counts_writes():
    store = MemoryStore()
    first = store.change_stamp()
    store.get("P", "a")
    assert store.change_stamp() == first
    store.put(Item("P", "a", {}))
    assert store.change_stamp() != first


def test_a_store_without_a_stamp_is_read_every_time():
    reads: list[str] = []

    class NoStamp(MemoryStore):
        def change_stamp(self, partition=None):
            return None

    store = NoStamp()
    store.put(Item("APIKEY", "k", {"hash": "h"}))

    def read(key_id):
        reads.append(key_id)
        return store.get("APIKEY", key_id)

    for _ in range(3):
        assert key_cache.lookup(store, "k", read).data == {"hash": "h"}
    assert reads == ["k", "k", "k"]


def test_a_record_is_read_again_after_any_write_and_a_missing_one_is_never_kept(tmp_path):
    store = SqliteStore(tmp_path / "store.db")
    store.put(Item("APIKEY", "k", {"hash": "h", "role": "admin"}))
    reads: list[str] = []

    def read(key_id):
        reads.append(key_id)
        return store.get("APIKEY", key_id)

    assert key_cache.lookup(store, "k", read).data["role"] == "admin"
    assert key_cache.lookup(store, "k", read).data["role"] == "admin"
    assert reads == ["k"]  # the second came from the cache
    store.put(Item("P", "unrelated", {}))  # any write at all: read again
    assert key_cache.lookup(store, "k", read).data["role"] == "admin"
    assert reads == ["k", "k"]
    assert key_cache.lookup(store, "nope", read) is None
    assert key_cache.lookup(store, "nope", read) is None
    assert reads == ["k", "k", "nope", "nope"]
    store.close()


def test_a_record_read_again_unchanged_keeps_its_principal_and_a_changed_one_does_not(tmp_path):
    """Given a key's record and the principal made from it, When something else is written (the
    record is read again and found equal), Then the same principal serves; When the record itself
    changes (a demotion), Then a new one is made from the new record."""
    from pilothouse.services.keys import principal_of

    store = SqliteStore(tmp_path / "store.db")
    record = {"id": "k", "name": "n", "hash": "h", "role": "admin"}
    store.put(Item("APIKEY", "k", record))

    def read(key_id):
        return store.get("APIKEY", key_id)

    first = key_cache.lookup(store, "k", read)
    first.principal = principal_of(first.data)
    store.put(Item("P", "unrelated", {}))
    again = key_cache.lookup(store, "k", read)
    assert again is first and again.principal is first.principal
    store.put(Item("APIKEY", "k", {**record, "role": "viewer"}))
    demoted = key_cache.lookup(store, "k", read)
    assert demoted.principal is None and demoted.data["role"] == "viewer"
    store.close()


# -- through the functions --------------------------------------------------------------------------


def test_revoked_through_the_api_the_next_request_is_401(api):
    viewer = make_key(api, "viewer")
    for _ in range(5):  # warm this thread's cache
        assert api.get("/v1/components", key=viewer["key"])[0] == 200
    assert api.delete(f"/v1/api-keys/{viewer['id']}")[0] == 200
    status, _, problem = api.get("/v1/components", key=viewer["key"])
    assert status == 401 and "revoked" in problem["detail"]


def test_revoked_or_demoted_by_another_process_the_next_request_sees_it(api):
    """Each change is made right after reads only (a mutation, or a refusal, is audited: a write of
    this process, which would move the stamp by itself), so only the other process's write can."""
    admin = make_key(api, "admin")
    viewer = make_key(api, "viewer")
    for _ in range(5):  # warm this thread's cache
        assert api.get("/v1/components", key=viewer["key"])[0] == 200
    in_another_process(REVOKE.format(viewer["id"]))
    status, _, problem = api.get("/v1/components", key=viewer["key"])
    assert status == 401 and "revoked" in problem["detail"]
    for _ in range(5):
        assert api.get("/v1/api-keys", key=admin["key"])[0] == 200
    # a demotion written straight into the store by another process (as a restore would)
    in_another_process(
        "from pilothouse.repositories.keys import ApiKeyRepository\n"
        "repo = ApiKeyRepository(services.store)\n"
        f"item = repo.require({admin['id']!r})\n"
        "repo.transact([repo.replace(item, {**item.data, 'role': 'viewer'})])\n"
    )
    status, _, problem = api.get("/v1/api-keys", key=admin["key"])
    assert status == 403 and problem["required_permission"] == "keys:admin"
    for _ in range(5):
        assert api.get("/v1/components", key=admin["key"])[0] == 200
    in_another_process(f"services.store.delete('APIKEY', {admin['id']!r})\n")
    assert api.get("/v1/components", key=admin["key"])[0] == 401


def test_a_wrong_secret_for_a_cached_key_is_still_401(api):
    viewer = make_key(api, "viewer")
    assert api.get("/v1/components", key=viewer["key"])[0] == 200
    forged = viewer["key"][:-4] + ("AAAA" if not viewer["key"].endswith("AAAA") else "BBBB")
    assert api.get("/v1/components", key=forged)[0] == 401
    assert api.get("/v1/components", key=viewer["key"])[0] == 200


# -- through the real gateway -----------------------------------------------------------------------


@pytest.fixture
def gateway(cloud, pool, admin_key):
    server = GatewayServer(LocalGateway(cloud.routes, pool), "127.0.0.1", 0)
    server.start()
    yield server
    server.stop()


def test_revoked_with_the_cli_the_next_request_through_the_gateway_is_401(api, gateway, admin_key):
    viewer = make_key(api, "viewer")
    auth = {"Authorization": f"Bearer {viewer['key']}"}
    with httpx.Client(base_url=gateway.url, timeout=30) as client:
        for _ in range(20):  # spread over the gateway's threads: each caches the key
            assert client.get("/v1/components", headers=auth).status_code == 200
        Cli(gateway.url, admin_key).ok("keys", "revoke", viewer["id"])
        response = client.get("/v1/components", headers=auth)
        assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_no_request_that_starts_after_a_revocation_is_served(api, gateway):
    """Eight clients read as fast as they can through the gateway while another process revokes
    their key: every request sent after the revocation returned is 401."""
    viewer = make_key(api, "viewer")
    auth = {"Authorization": f"Bearer {viewer['key']}"}
    revoked_at = [float("inf")]
    stop = threading.Event()

    def reader() -> list[tuple[float, int]]:
        seen = []
        with httpx.Client(base_url=gateway.url, timeout=30) as client:
            while not stop.is_set():
                started = time.monotonic()
                seen.append((started, client.get("/v1/components", headers=auth).status_code))
        return seen

    with ThreadPoolExecutor(8) as readers:
        futures = [readers.submit(reader) for _ in range(8)]
        time.sleep(0.5)
        in_another_process(REVOKE.format(viewer["id"]))
        revoked_at[0] = time.monotonic()
        time.sleep(0.5)
        stop.set()
        seen = [s for f in futures for s in f.result()]
    before = [status for started, status in seen if started < revoked_at[0]]
    after = [status for started, status in seen if started >= revoked_at[0]]
    assert before and after and 200 in before
    assert set(after) == {401}, sorted(set(after))


def test_a_register_asks_sqlite_what_others_committed_once(pool, admin_key):
    """A mutation checks its key and the deployment policies, each through a cache kept by a
    stamp: the request pins its stamps, so the store's data_version is asked once, not twice."""
    from pilothouse.embedded.functions import LambdaContext, load_module
    from pilothouse.runtime.events import http_event
    from pilothouse.settings import get_settings
    from pilothouse.wiring import get_services
    from tests.support.specs import spec

    register = load_module(pool.functions["RegisterComponentFunction"])
    auth = {"authorization": f"Bearer {admin_key}", "content-type": "application/json"}

    def call(name: str) -> None:
        event = http_event("POST", "/v1/components", headers=auth, body=json.dumps(spec(name)))
        assert register(event, LambdaContext("register", 30))["statusCode"] == 201

    call("pinned-warm")  # the handler's first call builds its caches
    store = get_services(get_settings()).store
    assert isinstance(store, SqliteStore)
    asked = _pragmas(store)
    call("pinned-one")
    call("pinned-two")
    assert len(asked) == 2
