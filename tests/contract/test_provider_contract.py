"""One contract for every revision provider (the port in :mod:`pilothouse.providers.base`).

Every test takes ``provider_case``: an object made by a per-provider *case class* that knows how to
build that provider, releases of versions "1.0.0" / "2.0.0" / a broken one, how to send a request
to a placement's URL and how to clean up. The tests below use the port only (deploy,
scale, stop, restore, prepare, shift, set_replicas, check_health, read_metrics, finalize,
rollback) plus the case's helpers -- never a provider's internals.

To add a provider (e.g. the AWS Lambda one against a moto server):

1. write ``class LambdaCase(ProviderCase)`` implementing the abstract methods (and override the
   capability flags it does not have, e.g. ``exact_split = False`` for random weighted routing);
2. add it to ``CASES`` and to the ``provider_case`` fixture's params (with its marks/skips).
"""

from __future__ import annotations

import abc
import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from pilothouse.providers.base import (
    HealthResult,
    Metrics,
    Placement,
    ProviderError,
    Release,
    RevisionProvider,
)
from tests.support.processes import kill_marked

REPO = Path(__file__).resolve().parents[2]

V1, V2 = "1.0.0", "2.0.0"


# -- cases -------------------------------------------------------------------------------------------


class ProviderCase(abc.ABC):
    """What the contract needs to know about one provider."""

    name: ClassVar[str]
    #: weights are honoured exactly per request (a router), not randomly (Lambda aliases)
    exact_split: ClassVar[bool] = True
    #: read_metrics can see a window of a second or two (not only whole minutes)
    fine_windows: ClassVar[bool] = True
    #: instances are countable and set_replicas starts/stops them
    replicas: ClassVar[bool] = True

    provider: RevisionProvider

    @abc.abstractmethod
    def release(self, version: str, *, replicas: int = 1) -> Release:
        """A release of the test component at ``version`` ("1.0.0" or "2.0.0")."""

    @abc.abstractmethod
    def broken_release(self) -> Release:
        """A release that never becomes healthy (crashes at start), failing fast."""

    @abc.abstractmethod
    def send(self, placement: Placement, *, fail: bool = False) -> tuple[int | str, str | None]:
        """One request to the placement's URL: (status or exception name, version that answered).
        ``fail=True`` asks for an answer with a 5xx status."""

    @abc.abstractmethod
    def stopped(self, placement: Placement, revision: str) -> bool:
        """True once every instance of ``revision`` (as recorded in ``placement``) has stopped."""

    @abc.abstractmethod
    def restart(self) -> RevisionProvider:
        """Simulate a control-plane restart: a fresh provider object (as ``self.provider`` too);
        what the old one started keeps running."""

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Stop everything the case started, even after a failed test."""


class LocalCase(ProviderCase):
    """The local provider running the counter example (``/fail`` answers 500)."""

    name = "local"

    def __init__(self, tmp_path: Path) -> None:
        from pilothouse.providers.local import LocalProvider

        self._cls = LocalProvider
        self.tmp_path = tmp_path
        self.mark = uuid.uuid4().hex
        self.providers = [LocalProvider(tmp_path / "data", poll_interval=0.05, drain_seconds=3.0)]
        self.provider = self.providers[0]
        spec = yaml.safe_load((REPO / "examples" / "counter" / "component.yaml").read_text())
        target = dict(spec["target"])
        target["cwd"] = str(REPO)
        target["env"] = {**(target.get("env") or {}), "PH_TEST_MARK": self.mark}
        target["grace_seconds"] = 2
        target["versions"] = {
            **target["versions"],
            "9.9.9-broken": {"args": ["--version", "9.9.9-broken", "--crash"]},
        }
        self.component = spec["name"]
        self.target = target

    def release(self, version: str, *, replicas: int = 1) -> Release:
        from pilothouse.providers.base import HealthCheck

        return Release(
            component=self.component,
            version=version,
            target=self.target,
            config={"step": 2},
            health=HealthCheck(path="/health", timeout_seconds=10.0),
            replicas=replicas,
        )

    def broken_release(self) -> Release:
        return self.release("9.9.9-broken")

    def send(self, placement: Placement, *, fail: bool = False) -> tuple[int | str, str | None]:
        url = placement.url + ("/fail" if fail else "/")
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, json.loads(resp.read()).get("version")
        except urllib.error.HTTPError as err:
            body = err.read() or b"{}"
            with contextlib.suppress(ValueError):
                return err.code, json.loads(body).get("version")
            return err.code, None
        except OSError as exc:
            return type(exc).__name__, None

    def stopped(self, placement: Placement, revision: str) -> bool:
        from pilothouse.providers.local.process import Replica

        recorded = [
            Replica.from_dict(d)
            for d in placement.details.get("replicas") or []
            if d.get("revision") == revision
        ]
        deadline = time.monotonic() + 5
        while any(r.is_same_process() for r in recorded):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def restart(self) -> RevisionProvider:
        old = self.provider
        for port, rset in list(old._sets.items()):  # the old control plane "dies": routers go
            rset.router.close()
            with old._lock:
                old._sets.pop(port, None)
        self.provider = self._cls(self.tmp_path / "data", poll_interval=0.05, drain_seconds=3.0)
        self.providers.append(self.provider)
        return self.provider

    def cleanup(self) -> None:
        for p in self.providers:
            p.close()
        kill_marked("PH_TEST_MARK", self.mark)


class LambdaCase(ProviderCase):
    """The AWS Lambda provider against its own moto server (a subprocess on 127.0.0.1).

    moto stores aliases, versions and metrics but runs no code, so ``send`` plays Lambda's part of
    a request: it reads the alias (the provider's real routing config), picks a version by its
    weight at random, answers as that version and records the invocation in CloudWatch
    (``Invocations`` / ``Errors`` / ``Duration`` with ``ExecutedVersion``) as Lambda would.
    ``release`` uploads the version's code to ``$LATEST`` first, as the build would. Health: a test
    invoke (moto answers DryRun without code); the broken release has a ``health_url`` answering 503.
    """

    name = "aws-lambda"
    exact_split = False  # Lambda routes each invocation at random by weight
    fine_windows = False  # CloudWatch periods are whole minutes
    replicas = False  # provisioned concurrency, not countable instances

    FUNCTION = "contract-fn"

    def __init__(self, tmp_path: Path) -> None:
        import io
        import random
        import zipfile
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from pilothouse.providers.aws_lambda import LambdaProvider
        from tests.support.moto_server import MotoServer

        self._cls = LambdaProvider
        self._io, self._zipfile, self._random = io, zipfile, random.Random(7)
        self.moto = MotoServer().start()
        self.lam, self.cw = self.moto.client("lambda"), self.moto.client("cloudwatch")
        self._descriptions: dict[str, str] = {}
        self._uploaded: str | None = None

        class Unhealthy(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.health = ThreadingHTTPServer(("127.0.0.1", 0), Unhealthy)
        threading.Thread(target=self.health.serve_forever, daemon=True).start()
        role = self.moto.client("iam").create_role(RoleName="contract", AssumeRolePolicyDocument="{}")
        self.lam.create_function(
            FunctionName=self.FUNCTION,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="handler.handler",
            Code={"ZipFile": self._zip("initial")},
        )
        self.provider = self._new()

    def _new(self) -> RevisionProvider:
        # moto's GetMetricData cannot compute percentiles: Maximum stands in for p99
        return self._cls(
            lambda_client=self.lam, cloudwatch_client=self.cw, poll_interval=0.01, latency_statistic="Maximum"
        )

    def _zip(self, version: str) -> bytes:
        buf = self._io.BytesIO()
        with self._zipfile.ZipFile(buf, "w") as z:
            z.writestr("handler.py", f"def handler(event, context):\n    return {version!r}\n")
        return buf.getvalue()

    def release(self, version: str, *, replicas: int = 1, target: dict[str, Any] | None = None) -> Release:
        from pilothouse.providers.base import HealthCheck

        if version != self._uploaded:  # the build uploads the version's code before deploying it
            self.lam.update_function_code(FunctionName=self.FUNCTION, ZipFile=self._zip(version))
            self._uploaded = version
        return Release(
            component="contract",
            version=version,
            target={"function_name": self.FUNCTION, "alias": "live", **(target or {})},
            health=HealthCheck(interval_seconds=0.05, timeout_seconds=5.0, unhealthy_threshold=2),
            replicas=replicas,
        )

    def broken_release(self) -> Release:
        url = f"http://127.0.0.1:{self.health.server_address[1]}/health/{{revision}}"
        return self.release("9.9.9-broken", target={"health_url": url})

    def _version_label(self, revision: str) -> str:
        if revision not in self._descriptions:
            conf = self.lam.get_function_configuration(FunctionName=self.FUNCTION, Qualifier=revision)
            self._descriptions[revision] = conf["Description"]
        return self._descriptions[revision]

    def send(self, placement: Placement, *, fail: bool = False) -> tuple[int | str, str | None]:
        from datetime import UTC, datetime

        try:
            alias = self.lam.get_alias(FunctionName=self.FUNCTION, Name=placement.details["alias"])
        except Exception as exc:  # noqa: BLE001 - e.g. ResourceNotFoundException after stop
            return type(exc).__name__, None
        extra = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        revision = alias["FunctionVersion"]
        roll = self._random.random()
        for rev, weight in extra.items():
            if roll < weight:
                revision = rev
                break
            roll -= weight
        dims = [
            {"Name": "FunctionName", "Value": self.FUNCTION},
            {"Name": "Resource", "Value": f"{self.FUNCTION}:{placement.details['alias']}"},
            {"Name": "ExecutedVersion", "Value": revision},
        ]
        now = datetime.now(UTC)
        self.cw.put_metric_data(
            Namespace="AWS/Lambda",
            MetricData=[
                {
                    "MetricName": "Invocations",
                    "Dimensions": dims,
                    "Timestamp": now,
                    "Value": 1,
                    "Unit": "Count",
                },
                {
                    "MetricName": "Errors",
                    "Dimensions": dims,
                    "Timestamp": now,
                    "Value": int(fail),
                    "Unit": "Count",
                },
                {
                    "MetricName": "Duration",
                    "Dimensions": dims,
                    "Timestamp": now,
                    "Value": 5 + self._random.random() * 20,
                    "Unit": "Milliseconds",
                },
            ],
        )
        return (500 if fail else 200), self._version_label(revision)

    def stopped(self, placement: Placement, revision: str) -> bool:
        """A version is "stopped" once the alias no longer routes to it (versions stay published)."""
        try:
            alias = self.lam.get_alias(FunctionName=self.FUNCTION, Name=placement.details["alias"])
        except self.lam.exceptions.ResourceNotFoundException:
            return True
        routed = {
            alias["FunctionVersion"],
            *((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}),
        }
        return revision not in routed

    def restart(self) -> RevisionProvider:
        self.provider = self._new()  # the alias lives in "AWS": nothing to hand over
        return self.provider

    def cleanup(self) -> None:
        self.health.shutdown()
        self.health.server_close()
        self.moto.stop()


CASES: dict[str, type[ProviderCase]] = {"local": LocalCase, "aws-lambda": LambdaCase}


@pytest.fixture(
    params=[
        pytest.param("local", marks=pytest.mark.slow),
        pytest.param("aws-lambda", marks=pytest.mark.slow),  # a moto server subprocess per test
    ]
)
def provider_case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProviderCase]:
    case = CASES[request.param](tmp_path)
    try:
        yield case
    finally:
        case.cleanup()


# -- helpers -----------------------------------------------------------------------------------------


def versions(case: ProviderCase, placement: Placement, n: int) -> Counter[str | None]:
    seen: Counter[str | None] = Counter()
    for _ in range(n):
        status, version = case.send(placement)
        assert status == 200, (status, version)
        seen[version] += 1
    return seen


def weights(placement: Placement) -> dict[str, int]:
    return {rid: info["weight"] for rid, info in placement.details["revisions"].items()}


def deploy_and_prepare(case: ProviderCase, *, replicas: int = 1) -> tuple[Placement, str, str]:
    p = case.provider
    stable = p.deploy(case.release(V1, replicas=replicas))
    placement = p.prepare(stable, case.release(V2, replicas=replicas))
    return placement, placement.details["stable"], placement.details["candidate"]


#: requests a Load sends at least (it keeps going after its block until it has)
MIN_REQUESTS = 30


class Load:
    """A few clients sending requests until stopped; collects every status."""

    def __init__(self, case: ProviderCase, placement: Placement, clients: int = 3) -> None:
        self.statuses: list[int | str] = []
        self.versions: list[str | None] = []
        self._done = threading.Event()

        def run() -> None:
            while not self._done.is_set():
                status, version = case.send(placement)
                self.statuses.append(status)
                self.versions.append(version)
                time.sleep(0.005)

        self._threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *exc: Any) -> None:
        # a little more load after the last change, and enough requests in all to mean something
        # however slow a loaded machine sends them (up to 20 s more)
        time.sleep(0.2)
        deadline = time.monotonic() + 20
        while len(self.statuses) <= MIN_REQUESTS and time.monotonic() < deadline:
            time.sleep(0.05)
        self._done.set()
        for t in self._threads:
            t.join(15)


# -- the contract ------------------------------------------------------------------------------------


def test_deploy_serves_one_stable_revision(provider_case: ProviderCase) -> None:
    """Given a provider
    When version 1.0.0 is deployed
    Then its URL answers 1.0.0 and the placement holds one revision: stable, 100 %, no candidate."""
    placement = provider_case.provider.deploy(provider_case.release(V1))

    assert versions(provider_case, placement, 5) == {V1: 5}
    d = placement.details
    assert placement.version == V1
    assert d["candidate"] is None
    assert list(d["revisions"]) == [d["stable"]]
    assert d["revisions"][d["stable"]]["version"] == V1
    assert d["revisions"][d["stable"]]["weight"] == 100


def test_prepare_adds_a_healthy_candidate_taking_no_traffic(provider_case: ProviderCase) -> None:
    """Given 1.0.0 deployed
    When 2.0.0 is prepared
    Then both revisions are in the placement (stable 100 %, candidate 0 %), every answer still
    comes from 1.0.0, and both revisions are healthy."""
    placement, stable, candidate = deploy_and_prepare(provider_case)

    assert stable != candidate
    assert placement.details["revisions"][candidate]["version"] == V2
    assert weights(placement) == {stable: 100, candidate: 0}
    assert versions(provider_case, placement, 20) == {V1: 20}
    health = provider_case.provider.check_health(placement, candidate)
    assert isinstance(health, HealthResult)
    assert health.healthy and health.failing == 0 and health.checked >= 1
    assert provider_case.provider.check_health(placement, stable).healthy


def test_shift_splits_traffic_by_weight(provider_case: ProviderCase) -> None:
    """Given a prepared candidate
    When traffic is shifted 90/10 and 200 requests are sent
    Then roughly 10 % are answered by the candidate, and each revision's metrics count its share."""
    placement, stable, candidate = deploy_and_prepare(provider_case)

    shifted = provider_case.provider.shift(placement, {stable: 90, candidate: 10})
    seen = versions(provider_case, shifted, 200)

    assert weights(shifted) == {stable: 90, candidate: 10}
    if provider_case.exact_split:
        assert seen == {V1: 180, V2: 20}
    else:
        assert 6 <= seen[V2] <= 40 and seen[V1] + seen[V2] == 200
    m_stable = provider_case.provider.read_metrics(shifted, stable, 60)
    m_candidate = provider_case.provider.read_metrics(shifted, candidate, 60)
    assert (m_stable.requests, m_candidate.requests) == (seen[V1], seen[V2])


def test_shift_rejects_bad_weights(provider_case: ProviderCase) -> None:
    """Given a prepared candidate
    When weights name an unknown revision, do not sum to 100, or are negative
    Then ProviderError, and the weights are unchanged."""
    placement, stable, candidate = deploy_and_prepare(provider_case)
    p = provider_case.provider

    for bad in ({stable: 90, "nope": 10}, {stable: 90, candidate: 20}, {stable: 110, candidate: -10}):
        with pytest.raises(ProviderError):
            p.shift(placement, bad)

    assert versions(provider_case, placement, 10) == {V1: 10}


def test_read_metrics_counts_requests_and_errors_over_a_window(provider_case: ProviderCase) -> None:
    """Given a prepared candidate without traffic
    When its metrics are read
    Then 0 requests with error_rate and p99 None; after a 50/50 shift with 10 good and 4 failing
    requests, the two revisions' requests add up to 14 and their errors to 4, with a p99."""
    placement, stable, candidate = deploy_and_prepare(provider_case)
    p = provider_case.provider

    empty = p.read_metrics(placement, candidate, 30)
    assert isinstance(empty, Metrics)
    assert (empty.requests, empty.errors, empty.error_rate, empty.p99_ms) == (0, 0, None, None)
    assert empty.window_seconds == 30

    shifted = p.shift(placement, {stable: 50, candidate: 50})
    for _ in range(10):
        assert provider_case.send(shifted)[0] == 200
    for _ in range(4):
        assert provider_case.send(shifted, fail=True)[0] == 500

    a, b = p.read_metrics(shifted, stable, 60), p.read_metrics(shifted, candidate, 60)
    assert a.requests + b.requests == 14
    assert a.errors + b.errors == 4
    for m in (a, b):
        if provider_case.exact_split:
            assert (m.requests, m.errors) == (7, 2)
        if m.requests:
            assert m.error_rate == pytest.approx(m.errors / m.requests)
            assert m.p99_ms is not None and m.p99_ms > 0


def test_read_metrics_forgets_requests_older_than_the_window(provider_case: ProviderCase) -> None:
    """Given a stable revision that served 5 requests
    When its metrics are read over a window that ends before then, and over a long one
    Then the short window shows nothing, the long one all 5."""
    if not provider_case.fine_windows:
        pytest.skip(f"{provider_case.name}: metrics have whole-minute resolution")
    p = provider_case.provider
    placement = p.deploy(provider_case.release(V1))
    stable = placement.details["stable"]
    for _ in range(5):
        provider_case.send(placement)
    time.sleep(1.3)

    assert p.read_metrics(placement, stable, 1.0).requests == 0
    assert p.read_metrics(placement, stable, 60).requests == 5


def test_finalize_keeps_only_the_candidate(provider_case: ProviderCase) -> None:
    """Given a candidate at 10 %
    When it is finalized
    Then it is the only revision and the new stable (100 %), every answer is 2.0.0 and the old
    stable's instances are stopped."""
    placement, stable, candidate = deploy_and_prepare(provider_case)
    shifted = provider_case.provider.shift(placement, {stable: 90, candidate: 10})

    final = provider_case.provider.finalize(shifted, candidate)

    assert list(final.details["revisions"]) == [candidate]
    assert (final.details["stable"], final.details["candidate"]) == (candidate, None)
    assert weights(final) == {candidate: 100}
    assert final.version == V2 and final.url == placement.url
    assert versions(provider_case, final, 10) == {V2: 10}
    assert provider_case.stopped(shifted, stable)


def test_rollback_keeps_only_the_stable(provider_case: ProviderCase) -> None:
    """Given a candidate at 50 %
    When the deployment is rolled back to the stable revision
    Then only the stable remains (100 %), every answer is 1.0.0 and the candidate is stopped."""
    placement, stable, candidate = deploy_and_prepare(provider_case)
    shifted = provider_case.provider.shift(placement, {stable: 50, candidate: 50})

    back = provider_case.provider.rollback(shifted, stable)

    assert list(back.details["revisions"]) == [stable]
    assert (back.details["stable"], back.details["candidate"]) == (stable, None)
    assert weights(back) == {stable: 100}
    assert back.version == V1
    assert versions(provider_case, back, 10) == {V1: 10}
    assert provider_case.stopped(shifted, candidate)


def test_set_replicas_runs_that_many_instances(provider_case: ProviderCase) -> None:
    """Given a prepared candidate with 1 instance
    When it is set to 2, then to 0
    Then the placement records 2 (both healthy), then 0 (the revision stays)."""
    if not provider_case.replicas:
        pytest.skip(f"{provider_case.name}: no countable instances")
    placement, _stable, candidate = deploy_and_prepare(provider_case)
    p = provider_case.provider

    two = p.set_replicas(placement, candidate, 2)
    assert two.details["revisions"][candidate]["replicas"] == 2
    health = p.check_health(two, candidate)
    assert (health.healthy, health.checked) == (True, 2)

    none = p.set_replicas(two, candidate, 0)
    assert none.details["revisions"][candidate]["replicas"] == 0
    assert candidate in none.details["revisions"]
    assert provider_case.stopped(two, candidate)


def test_prepare_of_a_broken_version_fails_with_logs_and_keeps_the_stable(
    provider_case: ProviderCase,
) -> None:
    """Given 1.0.0 deployed
    When a version that crashes at start is prepared
    Then ProviderError carries its logs and a placement with the stable revision only, which
    keeps serving every request."""
    p = provider_case.provider
    stable = p.deploy(provider_case.release(V1))

    with pytest.raises(ProviderError) as caught:
        p.prepare(stable, provider_case.broken_release())

    err = caught.value
    assert err.logs
    assert err.placement is not None
    assert list(err.placement.details["revisions"]) == [stable.details["stable"]]
    assert err.placement.details["candidate"] is None
    assert versions(provider_case, stable, 10) == {V1: 10}


def test_no_failed_request_during_shift_finalize_and_rollback(provider_case: ProviderCase) -> None:
    """Given light load on the stable URL
    When a candidate is prepared, shifted 50/50, rolled back, prepared again, shifted to 100 %
    and finalized
    Then every request answers 200, and the last ones come from 2.0.0."""
    p = provider_case.provider
    current = p.deploy(provider_case.release(V1))
    with Load(provider_case, current) as load:
        current = p.prepare(current, provider_case.release(V2))
        current = p.shift(current, {current.details["stable"]: 50, current.details["candidate"]: 50})
        current = p.rollback(current, current.details["stable"])
        current = p.prepare(current, provider_case.release(V2))
        current = p.shift(current, {current.details["stable"]: 0, current.details["candidate"]: 100})
        current = p.finalize(current, current.details["candidate"])

    assert len(load.statuses) > MIN_REQUESTS
    assert set(load.statuses) == {200}
    assert set(load.versions) == {V1, V2}
    assert load.versions[-1] == V2


def test_scale_and_stop_work_on_revision_placements(provider_case: ProviderCase) -> None:
    """Given a deployment finalized to 2.0.0 (so its placement carries revisions)
    When it is scaled to 2 and stopped (the two commands a job carries out without a deployment)
    Then each step serves as before: 2 instances of 2.0.0, then nothing."""
    p = provider_case.provider
    placement, _stable, candidate = deploy_and_prepare(provider_case)
    final = p.finalize(placement, candidate)

    if provider_case.replicas:
        scaled = p.scale(final, provider_case.release(V2), 2)
        assert scaled.replicas == 2
        assert scaled.details["revisions"][candidate]["replicas"] == 2
        assert versions(provider_case, scaled, 6) == {V2: 6}
        final = scaled

    (only,) = final.details["revisions"]
    p.stop(final)
    assert provider_case.send(final)[0] != 200
    assert provider_case.stopped(final, only)


def test_restore_mid_deployment_brings_back_both_revisions(provider_case: ProviderCase) -> None:
    """Given a candidate at 20 % when the control plane restarts
    When a fresh provider restores the placement
    Then both revisions come back with their weights, traffic is still split, and the deployment
    can be finalized."""
    placement, stable, candidate = deploy_and_prepare(provider_case)
    shifted = provider_case.provider.shift(placement, {stable: 80, candidate: 20})

    fresh = provider_case.restart()
    restored = fresh.restore(shifted, provider_case.release(V1))

    assert restored.url == shifted.url
    assert weights(restored) == {stable: 80, candidate: 20}
    assert (restored.details["stable"], restored.details["candidate"]) == (stable, candidate)
    assert {rid: info["version"] for rid, info in restored.details["revisions"].items()} == {
        stable: V1,
        candidate: V2,
    }
    seen = versions(provider_case, restored, 50)
    if provider_case.exact_split:
        assert seen == {V1: 40, V2: 10}
    else:
        assert seen[V2] > 0 and seen[V1] > 0
    final = fresh.finalize(restored, candidate)
    assert versions(provider_case, final, 5) == {V2: 5}
