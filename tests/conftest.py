"""Shared fixtures: an isolated control plane per test (SQLite under tmp_path), an admin key,
functions invoked from template.yaml exactly as the local gateway invokes them."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pilothouse.embedded.functions import FunctionPool
from pilothouse.embedded.gateway import LocalGateway
from pilothouse.embedded.template import read_cloud
from pilothouse.settings import get_settings
from pilothouse.wiring import get_services, reset_services
from tests.support.controlplane import ADMIN_KEY, ROOT, Api
from tests.support.processes import stop_session_servers

BENCHMARKS = Path(__file__).resolve().parent / "benchmarks"

#: under the test suite every HTTP answer is checked against its endpoint's return annotation
#: (off by default in production, see Settings.response_validation); processes the tests start
#: inherit it
os.environ.setdefault("PILOTHOUSE_RESPONSE_VALIDATION", "true")
#: the rate limiter (on by default in a deployment) is off under the suite, so load-shaped tests and
#: benchmarks measure what they name; tests/integration/test_rate_limits.py turns it on
os.environ.setdefault("PILOTHOUSE_RATE_LIMITS", '{"enabled": false}')
#: every store the suite builds from settings commits a transaction inside one partition only, as
#: Azure Tables does (Store.transaction_scope): a service whose transaction spans partitions fails
#: here, not on Azure; processes the tests start inherit it
os.environ.setdefault("PILOTHOUSE_STORE_TRANSACTION_SCOPE", "partition")


@pytest.fixture(autouse=True, scope="module")
def _environment_per_module() -> Iterator[None]:
    """Each test module leaves Pilothouse's variables (``PILOTHOUSE_*``) as it found them: an
    in-process dev server sets some for its functions (``DevServer._environment``), and one module's
    leftovers must not reach the next (a cold-start test once loaded pydantic for a leaked control
    port). Other variables are left alone: the emulators started once per worker (Pub/Sub,
    Firestore, GCS) announce themselves by theirs for the rest of the run."""
    before = {k: v for k, v in os.environ.items() if k.startswith("PILOTHOUSE_")}
    yield
    for name in [k for k in os.environ if k.startswith("PILOTHOUSE_") and k not in before]:
        del os.environ[name]
    for name, value in before.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Benchmarks run only when asked for by path (`make bench`): the default run skips them."""
    if collection_path != BENCHMARKS:
        return None
    asked = [Path(a.split("::")[0]).resolve() for a in config.args]
    return not any(a == BENCHMARKS or BENCHMARKS in a.parents for a in asked)


#: under pytest-xdist (`--dist loadgroup`), the tests of these directories run one after another on
#: one worker: each starts real processes and servers and is timing-sensitive, so two at once on a
#: small machine only make them slower and flakier (they share no state: ports are free ones, data
#: lives under tmp_path)
SERIAL_GROUPS = {"e2e": "processes", "infrastructure": "infrastructure"}


#: tests on the Google Cloud stand-ins (the Firestore emulator, the GCS emulator, the Pub/Sub test
#: server; each started once per worker) run on one worker, so a run starts each of them once
GCP_SERVER_TESTS = (
    "[firestore]",
    "[pubsub]",
    "[gcs]",
    "test_firestore_",
    "test_pubsub_",
    "test_gcs_",
    "test_gcp_",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).resolve().parent
    xdist = config.pluginmanager.hasplugin("xdist")
    for item in items:
        if xdist and item.path.parent.name == "scenarios":
            # the portability scenario: one group per mode, so one worker starts that mode's servers
            mode = item.callspec.params.get("mode") if hasattr(item, "callspec") else None
            item.add_marker(pytest.mark.xdist_group(f"scenario-{mode or 'report'}"))
            continue
        if xdist and any(mark in item.nodeid for mark in GCP_SERVER_TESTS) and "/unit/" not in item.nodeid:
            item.add_marker(pytest.mark.xdist_group("gcp-servers"))
        path = item.path.resolve()
        parts = path.relative_to(tests).parts if path.is_relative_to(tests) else ()
        if len(parts) > 1 and parts[0] in SERIAL_GROUPS:
            item.add_marker(pytest.mark.xdist_group(SERIAL_GROUPS[parts[0]]))
        elif _uses_azurite(item) and item.config.pluginmanager.hasplugin("xdist"):
            item.add_marker(pytest.mark.xdist_group("azurite"))
    if xdist:
        _order_by_group(items)


#: the order in which xdist hands out the groups (`--no-loadscope-reorder`; by default it would hand
#: out the groups with the most tests first): the longest first, so that the last to end is a short
#: one and both workers finish together (each worker holds two units of work at a time: the first
#: four go out at once, so the third, which follows the longest on the first worker, is short)
GROUP_ORDER = (
    "processes",
    "scenario-azure",
    "scenario-embedded",
    "scenario-aws",
    "infrastructure",
    "scenario-gcp",
    "azurite",
    "gcp-servers",
)


def _order_by_group(items: list[pytest.Item]) -> None:
    """Sort ``items`` (stably) by :data:`GROUP_ORDER`; the tests of no group, slow ones first, after."""
    rank = {group: n for n, group in enumerate(GROUP_ORDER)}

    def key(item: pytest.Item) -> int:
        marker = item.get_closest_marker("xdist_group")
        group = (marker.args[0] if marker.args else marker.kwargs.get("name")) if marker else None
        if group in rank:
            return rank[group]
        return len(rank) + (0 if item.get_closest_marker("slow") else 1)

    items.sort(key=key)


def _uses_azurite(item: pytest.Item) -> bool:
    """Tests against Azurite (an ``azure-*`` adapter of a contract suite, a ``test_azure_*`` test or an
    ``azure`` test module) share one xdist worker, so that one Azurite process serves them all."""
    return "azure" in item.path.name or "azure" in item.name


@pytest.fixture
def project_dir() -> Path:
    return ROOT


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh embedded environment: SQLite store and queue in tmp_path."""
    monkeypatch.setenv("PILOTHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PILOTHOUSE_STORE", "sqlite")
    monkeypatch.setenv("PILOTHOUSE_QUEUE", "local")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.delenv("PILOTHOUSE_ADMIN_KEY", raising=False)
    reset_services()
    yield tmp_path
    reset_services()


@pytest.fixture
def services(env):
    return get_services(get_settings())


@pytest.fixture
def clock():
    from pilothouse.clock import ManualClock

    return ManualClock(1_800_000_000.0)


@pytest.fixture
def manual_services(env, clock):
    """Services on a manual clock (queue delays, waits and leases move only when the test says)."""
    from pilothouse.wiring import Services, register_services

    s = Services(get_settings(), clock)
    register_services(s)
    return s


@pytest.fixture
def admin_key(services) -> str:
    from pilothouse.services.keys import ensure_key

    ensure_key(services, ADMIN_KEY, name="test admin")
    return ADMIN_KEY


@pytest.fixture(scope="session")
def cloud():
    from pilothouse.settings import Settings

    return read_cloud(ROOT, Settings())


@pytest.fixture(scope="session")
def pool(cloud) -> FunctionPool:
    return FunctionPool(cloud.functions)


@pytest.fixture
def api(cloud, pool, admin_key) -> Api:
    return Api(LocalGateway(cloud.routes, pool), admin_key)


@pytest.fixture
def loopback_only(monkeypatch):
    """Any connect to a non-loopback address, or lookup of a name, fails the test (before a packet
    leaves)."""
    real_connect = socket.socket.connect

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else None
        if host is not None and not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise AssertionError(f"test tried to connect to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # no name lookups either: they may leave the machine
        try:
            ipaddress.ip_address(str(host).strip("[]"))
        except ValueError:
            if host != "localhost":
                raise AssertionError(f"test tried to look up {host!r}") from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the servers tests shared across the session (moto, Azurite, the Pub/Sub and GCS
    stand-ins): in every xdist worker too, where atexit handlers never run."""
    stop_session_servers()
