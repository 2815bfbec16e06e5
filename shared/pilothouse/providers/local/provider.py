"""The local provider: runs each replica of a component as a real OS process on this machine,
behind a :class:`~pilothouse.providers.local.router.Router` on one stable port.

``release.target`` keys:

``command``
    list of strings (or a command line split with :func:`shlex.split`); ``{python}`` expands to
    ``sys.executable``, ``{port}`` to the replica's port and ``{host}`` to ``127.0.0.1``.
``env``
    extra environment (added to this process's environment).
``cwd``
    working directory (relative paths in ``command`` resolve against it); default: the current one.
``versions``
    ``version -> {"args": [...], "env": {...}}`` appended to the command / merged into the env.
``port``
    the stable port of the router (default: a free one, kept for the component's life).
``grace_seconds``
    SIGTERM -> SIGKILL grace when stopping (default 5).

Every replica also gets ``PORT``, ``PILOTHOUSE_VERSION``, ``PILOTHOUSE_COMPONENT`` and
``PILOTHOUSE_CONFIG`` (JSON of ``release.config``). Output goes to
``<data_dir>/logs/<component>/<version>-<port>-<time>.log``.

Revisions
---------
A deployment holds one or more *revisions* (``"<version>+<6 hex>"``), each with its own replicas
and a whole-percent weight in the router. :meth:`LocalProvider.deploy` and
:meth:`~LocalProvider.update` leave exactly one (the ``stable``); :meth:`~LocalProvider.prepare`
adds a ``candidate`` at 0 %, :meth:`~LocalProvider.shift` moves traffic, and
:meth:`~LocalProvider.finalize` / :meth:`~LocalProvider.rollback` go back to one. Until ``shift`` is
called, :meth:`~LocalProvider.set_replicas` makes traffic follow the revisions' replica counts
(rolling deployments). The legacy operations (``scale``; the placement's ``version`` and
``replicas``) act on the *primary* revision: the stable one, or the candidate when there is none.

Placement details (JSON), everything :meth:`LocalProvider.restore` needs after a control-plane
restart::

    provider, component, host, stable_port, data_dir,
    revision:   the primary revision's id,
    replicas:   [every replica of every revision: pid, port, version, revision, log, identity...],
    revisions:  {id: {version, replicas, weight, health_path}},
    stable, candidate,
    weights_source: "fixed" (deploy/prepare/finalize), "shift" or "replicas".
"""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilothouse.clock import Clock, SystemClock
from pilothouse.providers.base import HealthResult, Metrics, Placement, ProviderError, Release
from pilothouse.providers.local.process import (
    LaunchSpec,
    Replica,
    StartFailure,
    build_launch_spec,
    free_port,
    probe,
    safe_name,
    spawn,
    stop_replicas,
    wait_healthy,
)
from pilothouse.providers.local.router import Router, RouterError

__all__ = ["LocalProvider"]

FIXED, SHIFT, BY_REPLICAS = "fixed", "shift", "replicas"
HEALTH_CHECK_TIMEOUT = 2.0


@dataclass
class _Revision:
    id: str
    version: str
    # what starts more replicas of it (version == self.version); None when adopted without one
    release: Release | None
    replicas: list[Replica] = field(default_factory=list)
    weight: int = 0
    target_replicas: int = 0  # the count it last ran with (what a rollback to it restarts)
    health_path: str = "/health"

    def startable(self) -> Release:
        if self.release is None:
            raise ProviderError(
                f"revision {self.id!r} was adopted without a release: restore() the placement with "
                "one before starting replicas of it"
            )
        return self.release


@dataclass
class _Deployment:
    component: str
    router: Router
    revisions: dict[str, _Revision] = field(default_factory=dict)
    stable: str | None = None
    candidate: str | None = None
    weights_source: str = FIXED
    retired: deque[str] = field(default_factory=lambda: deque(maxlen=4))  # metrics still readable
    lock: threading.RLock = field(default_factory=threading.RLock)
    stopped: bool = False

    @property
    def stable_port(self) -> int:
        return self.router.port

    @property
    def primary(self) -> _Revision:
        """The revision the single-revision operations act on: stable, else the candidate."""
        rid = self.stable if self.stable in self.revisions else self.candidate
        if rid not in self.revisions:
            rid = next(iter(self.revisions))
        return self.revisions[rid]

    def all_replicas(self) -> list[Replica]:
        return [r for rev in self.revisions.values() for r in rev.replicas]


def _proportional(counts: dict[str, int]) -> dict[str, int] | None:
    """Whole percentages proportional to ``counts`` summing to 100 (largest remainder); None if
    every count is 0."""
    total = sum(counts.values())
    if total <= 0:
        return None
    exact = {k: c * 100 / total for k, c in counts.items()}
    out = {k: int(v) for k, v in exact.items()}
    order = sorted(counts, key=lambda k: (-(exact[k] - out[k]), -counts[k]))
    for k in order[: 100 - sum(out.values())]:
        out[k] += 1
    return out


class LocalProvider:
    """A :class:`~pilothouse.providers.base.RevisionProvider` running replicas as local processes.

    ``data_dir`` holds the replicas' logs. ``host`` is where replicas and routers listen
    (loopback by default). ``poll_interval`` is the health polling period. ``drain_seconds``
    bounds how long a replica taken out of the router may finish in-flight requests before it is
    signalled. Safe to call from several threads; operations on one component are serialised.
    """

    name = "local"

    def __init__(
        self,
        data_dir: Path,
        *,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        poll_interval: float = 0.15,
        drain_seconds: float = 5.0,
        router_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.clock: Clock = clock or SystemClock()
        self.host = host
        self.poll_interval = poll_interval
        self.drain_seconds = drain_seconds
        self.router_timeout = router_timeout
        self._lock = threading.Lock()
        self._deployments: dict[int, _Deployment] = {}  # by stable port
        self._reserved_ports: set[int] = set()
        self._closing = threading.Event()
        self._restore_lock = threading.Lock()  # one restore at a time (they may share a port)

    # -- the port --------------------------------------------------------------------------------

    def deploy(self, release: Release) -> Placement:
        """Start ``release.replicas`` replicas, wait until each is healthy, put the router in front."""
        return self._new_deployment(release, as_candidate=False)

    def update(self, current: Placement, release: Release) -> Placement:
        """Start the new version's replicas (as many as the primary revision has now), switch the
        router once they are all healthy, then drain and stop every other revision's replicas. On
        failure what served keeps serving."""
        self._check_open()
        dep = self._ensure(current, release)
        spec = self._spec(release)
        with dep.lock:
            self._check_live(dep)
            count = len(dep.primary.replicas)
            rev = _Revision(
                self._revision(release.version),
                release.version,
                release,
                weight=100,
                health_path=release.health.path,
            )
            try:
                rev.replicas = self._start_healthy(dep, release, spec, count, rev.id)
            except ProviderError as exc:
                raise ProviderError(exc.reason, logs=exc.logs, placement=self._placement(dep)) from exc
            rev.target_replicas = count
            self._make_only(dep, rev)
            return self._placement(dep)

    def scale(self, current: Placement, release: Release, replicas: int) -> Placement:
        """Run ``replicas`` replicas of the primary revision behind the same URL."""
        self._check_open()
        if replicas < 0:
            raise ProviderError(f"cannot scale to {replicas} replicas")
        dep = self._ensure(current, release)
        with dep.lock:
            self._check_live(dep)
            rev = dep.primary
            if rev.release is None:
                rev.release = dataclasses.replace(release, version=rev.version)
            self._resize(dep, rev, replicas, release=dataclasses.replace(release, version=rev.version))
            return self._placement(dep)

    def stop(self, current: Placement) -> None:
        """Take every revision's replicas out of the router, stop them (SIGTERM, SIGKILL after the
        grace) and close the router's port. Also stops recorded replicas of a placement this object
        does not manage (if they are still the recorded processes)."""
        port = self._stable_port(current)
        with self._lock:
            dep = self._deployments.get(port) if port is not None else None
        if dep is None:
            orphans = [Replica.from_dict(d, host=self.host) for d in current.details.get("replicas") or []]
            stop_replicas([r for r in orphans if r.is_same_process()])
            return
        with dep.lock:
            if dep.stopped:
                return
            dep.router.set_backends({})
            victims = dep.all_replicas()
            for rev in dep.revisions.values():
                rev.replicas = []
            stop_replicas(victims)
            dep.router.close()
            dep.stopped = True
            self._release_ports(victims)
            with self._lock:
                if self._deployments.get(port) is dep:
                    del self._deployments[port]

    def restore(self, current: Placement, release: Release) -> Placement:
        """Adopt the recorded replicas that are still the same process and healthy, start
        replacements for the others, and bring the router back on the same stable port.

        Every recorded revision comes back with its replica count and weight (a deployment caught
        mid-way keeps both revisions). ``release`` gives the target, configuration and health
        check; each revision keeps its own version. A placement with one revision whose version is
        not ``release.version`` is brought to ``release.version`` instead (as an update would).
        """
        with self._restore_lock:
            return self._restore(current, release)

    def close(self) -> None:
        """Stop every replica and router this object started or adopted (control plane exit)."""
        self._closing.set()
        with self._lock:
            deps = list(self._deployments.values())
            self._deployments.clear()
        everything: list[Replica] = []
        for dep in deps:
            with dep.lock:
                dep.router.set_backends({})
                everything += dep.all_replicas()
                for rev in dep.revisions.values():
                    rev.replicas = []
                dep.stopped = True
        stop_replicas(everything)
        for dep in deps:
            dep.router.close()
        self._release_ports(everything)

    # -- revisions (progressive delivery) --------------------------------------------------------

    def prepare(self, current: Placement | None, release: Release) -> Placement:
        """Start ``release.replicas`` replicas of ``release`` as a new revision, the ``candidate``,
        wait until they are healthy and add it to the router at 0 % (stable at 100 %).

        A candidate already there is replaced (drained and stopped). With ``current`` None the
        candidate is the only revision and takes 100 %; so it does when the stable has no replica
        left (scaled to 0 before, as a recreate does). On failure what started is stopped and
        :class:`ProviderError` carries the failing replica's log tail and ``placement=current``.
        """
        if current is None:
            return self._new_deployment(release, as_candidate=True)
        self._check_open()
        dep = self._ensure(current, release)
        spec = self._spec(release)
        with dep.lock:
            self._check_live(dep)
            rev = _Revision(
                self._revision(release.version), release.version, release, health_path=release.health.path
            )
            try:
                rev.replicas = self._start_healthy(dep, release, spec, release.replicas, rev.id)
            except ProviderError as exc:
                raise ProviderError(exc.reason, logs=exc.logs, placement=self._placement(dep)) from exc
            rev.target_replicas = release.replicas
            old = None
            if dep.candidate in dep.revisions and dep.candidate != dep.stable:
                old = dep.revisions.pop(dep.candidate)
            dep.revisions[rev.id] = rev
            dep.candidate = rev.id
            if dep.stable not in dep.revisions:
                dep.stable = None
            # the stable keeps all the traffic -- unless it has no replica left to serve it (a
            # recreate scaled it to 0 first): then the candidate takes it
            serving = dep.stable if dep.stable is not None and dep.revisions[dep.stable].replicas else rev.id
            for r in dep.revisions.values():
                r.weight = 100 if r.id == serving else 0
            dep.weights_source = FIXED
            self._route(dep)
            if old is not None:
                dep.retired.append(old.id)
                self._retire(dep, old.replicas)
            return self._placement(dep)

    def shift(self, placement: Placement, weights: dict[str, int]) -> Placement:
        """Route whole percentages of the traffic to revisions of ``placement``; revisions left
        out get 0. Weights must be integers in 0..100 summing to 100, and a revision given a
        positive weight must have replicas. From now on replica changes leave weights alone."""
        dep = self._managed(placement)
        with dep.lock:
            self._check_live(dep)
            if not isinstance(weights, dict) or not weights:
                raise ProviderError("weights must map revision ids to percentages")
            for rid, w in weights.items():
                if rid not in dep.revisions:
                    raise ProviderError(f"unknown revision {rid!r} (have {sorted(dep.revisions)})")
                if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100:
                    raise ProviderError(f"weight of {rid!r} must be a whole percentage, got {w!r}")
                if w > 0 and not dep.revisions[rid].replicas:
                    raise ProviderError(f"revision {rid!r} has no replicas to take {w}% of the traffic")
            if sum(weights.values()) != 100:
                raise ProviderError(f"weights must sum to 100, got {sum(weights.values())}")
            for rid, rev in dep.revisions.items():
                rev.weight = int(weights.get(rid, 0))
            dep.weights_source = SHIFT
            self._route(dep)
            return self._placement(dep)

    def set_replicas(self, placement: Placement, revision: str, replicas: int) -> Placement:
        """Run ``replicas`` replicas of ``revision`` (new ones join the router once healthy; removed
        ones leave it, are drained, then stopped). Unless :meth:`shift` set weights, traffic then
        follows the revisions' replica counts."""
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ProviderError(f"invalid replica count {replicas!r}")
        dep = self._managed(placement)
        with dep.lock:
            self._check_live(dep)
            rev = self._known(dep, revision)
            if dep.weights_source != SHIFT:
                dep.weights_source = BY_REPLICAS
            self._resize(dep, rev, replicas, release=rev.release)
            return self._placement(dep)

    def check_health(self, placement: Placement, revision: str) -> HealthResult:
        """GET the health path of every replica of ``revision`` now (short timeout, in parallel).

        Works on placements this object does not manage too (from the recorded replicas)."""
        port = self._stable_port(placement)
        with self._lock:
            dep = self._deployments.get(port) if port is not None else None
        if dep is not None:
            with dep.lock:
                rev = self._known(dep, revision)
                replicas, path = list(rev.replicas), rev.health_path
        else:
            info = (placement.details.get("revisions") or {}).get(revision)
            if info is None and placement.details.get("revision") != revision:
                raise ProviderError(f"unknown revision {revision!r}")
            path = str((info or {}).get("health_path") or "/health")
            replicas = [
                Replica.from_dict(d, host=self.host)
                for d in placement.details.get("replicas") or []
                if d.get("revision") == revision
            ]
        if not replicas:
            return HealthResult(healthy=False, checked=0, failing=0, detail="no replicas")

        def one(r: Replica) -> tuple[bool, str]:
            if not r.is_same_process():
                return False, f"pid {r.pid} port {r.port}: process ended"
            ok, what = probe(r.host, r.port, path, timeout=HEALTH_CHECK_TIMEOUT)
            return ok, f"pid {r.pid} port {r.port}: {what}"

        with ThreadPoolExecutor(max_workers=min(8, len(replicas))) as pool:
            results = list(pool.map(one, replicas))
        failing = [what for ok, what in results if not ok]
        return HealthResult(
            healthy=not failing,
            checked=len(results),
            failing=len(failing),
            detail="; ".join(failing) if failing else f"{len(results)} healthy at {path}",
        )

    def read_metrics(self, placement: Placement, revision: str, window_seconds: float) -> Metrics:
        """Requests, errors (5xx, including the router's own 502s) and p99 latency of ``revision``
        over the last ``window_seconds``, as counted by the router."""
        if window_seconds <= 0:
            raise ProviderError(f"window must be positive, got {window_seconds!r}")
        dep = self._managed(placement)
        with dep.lock:
            if revision not in dep.revisions and revision not in dep.retired:
                raise ProviderError(f"unknown revision {revision!r}")
        w = dep.router.window(revision, window_seconds)
        return Metrics(
            requests=w["requests"],
            errors=w["errors"],
            error_rate=w["error_rate"],
            p99_ms=w["p99_ms"],
            window_seconds=float(window_seconds),
        )

    def finalize(self, placement: Placement, revision: str) -> Placement:
        """Make ``revision`` the only one (100 %, the new stable); drain and stop the others."""
        dep = self._managed(placement)
        with dep.lock:
            self._check_live(dep)
            rev = self._known(dep, revision)
            if not rev.replicas:
                raise ProviderError(
                    f"revision {revision!r} has no replicas: cannot make it the only one",
                    placement=self._placement(dep),
                )
            self._make_only(dep, rev)
            return self._placement(dep)

    def rollback(self, placement: Placement, revision: str) -> Placement:
        """Send all traffic to ``revision`` at once; drain and stop the others. If ``revision`` has
        no replicas left (a rolling deployment scaled it down), its last replica count (at least
        1) is started first; if that fails nothing changes and ProviderError is raised."""
        dep = self._managed(placement)
        with dep.lock:
            self._check_live(dep)
            rev = self._known(dep, revision)
            if not rev.replicas:
                count = max(1, rev.target_replicas)
                try:
                    release = rev.startable()
                    rev.replicas = self._start_healthy(dep, release, self._spec(release), count, rev.id)
                except ProviderError as exc:
                    raise ProviderError(exc.reason, logs=exc.logs, placement=self._placement(dep)) from exc
            self._make_only(dep, rev)
            return self._placement(dep)

    # -- extras ----------------------------------------------------------------------------------

    def router(self, placement: Placement) -> Router:
        """The router serving ``placement`` (for weighted/canary routing and its statistics)."""
        return self._managed(placement).router

    def placement(self, component_port: int) -> Placement | None:
        """The live placement of the deployment on ``component_port`` (None if unknown)."""
        with self._lock:
            dep = self._deployments.get(component_port)
        if dep is None:
            return None
        with dep.lock:
            return self._placement(dep)

    def __enter__(self) -> LocalProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals: deployments ------------------------------------------------------------------

    def _new_deployment(self, release: Release, *, as_candidate: bool) -> Placement:
        self._check_open()
        spec = self._spec(release)
        router = self._start_router(int(release.target.get("port") or 0))
        rev = _Revision(
            self._revision(release.version),
            release.version,
            release,
            weight=100,
            health_path=release.health.path,
        )
        dep = _Deployment(component=release.component, router=router, revisions={rev.id: rev})
        if as_candidate:
            dep.candidate = rev.id
        else:
            dep.stable = rev.id
        with dep.lock:
            try:
                self._register(dep)  # so that a concurrent close() waits for this deploy and cleans up
                rev.replicas = self._start_healthy(dep, release, spec, release.replicas, rev.id)
            except BaseException:
                self._unregister(dep)
                router.close()
                raise
            rev.target_replicas = release.replicas
            self._route(dep)
            return self._placement(dep)

    def _resize(self, dep: _Deployment, rev: _Revision, replicas: int, *, release: Release | None) -> None:
        """Grow or shrink one revision (lock held); reroute; drain and stop what was removed."""
        have = len(rev.replicas)
        if replicas > have:
            try:
                release = release if release is not None else rev.startable()
                added = self._start_healthy(dep, release, self._spec(release), replicas - have, rev.id)
            except ProviderError as exc:
                raise ProviderError(exc.reason, logs=exc.logs, placement=self._placement(dep)) from exc
            rev.replicas = rev.replicas + added
            victims: list[Replica] = []
        else:
            victims = rev.replicas[replicas:]
            rev.replicas = rev.replicas[:replicas]
        if replicas > 0:
            rev.target_replicas = replicas
        self._rebalance(dep)
        self._route(dep)
        self._retire(dep, victims)

    def _make_only(self, dep: _Deployment, rev: _Revision) -> None:
        """``rev`` takes 100 % and becomes the stable one; every other revision is drained and
        stopped (lock held)."""
        others = [r for r in dep.revisions.values() if r.id != rev.id]
        rev.weight = 100
        dep.revisions = {rev.id: rev}
        dep.stable, dep.candidate = rev.id, None
        dep.weights_source = FIXED
        self._route(dep)
        victims = [r for o in others for r in o.replicas]
        for o in others:
            dep.retired.append(o.id)
            o.replicas = []
        self._retire(dep, victims)
        dep.router.prune_stats(list(dep.retired))

    def _rebalance(self, dep: _Deployment) -> None:
        if dep.weights_source != BY_REPLICAS:
            return
        weights = _proportional({rid: len(r.replicas) for rid, r in dep.revisions.items()})
        if weights is not None:
            for rid, w in weights.items():
                dep.revisions[rid].weight = w

    def _route(self, dep: _Deployment) -> None:
        dep.router.set_backends(
            {rid: ([r.url for r in rev.replicas], rev.weight) for rid, rev in dep.revisions.items()}
        )

    def _retire(self, dep: _Deployment, victims: list[Replica]) -> None:
        """Replicas already out of the router: let in-flight requests finish, then stop them."""
        if not victims:
            return
        dep.router.wait_idle([r.url for r in victims], timeout=self.drain_seconds)
        stop_replicas(victims)
        self._release_ports(victims)

    def _placement(self, dep: _Deployment) -> Placement:
        primary = dep.primary
        return Placement(
            url=f"http://{self.host}:{dep.stable_port}",
            version=primary.version,
            replicas=len(primary.replicas),
            details={
                "provider": self.name,
                "component": dep.component,
                "host": self.host,
                "stable_port": dep.stable_port,
                "revision": primary.id,
                "data_dir": str(self.data_dir),
                "replicas": [r.to_dict() for r in dep.all_replicas()],
                "revisions": {
                    rid: {
                        "version": rev.version,
                        "replicas": len(rev.replicas),
                        "weight": rev.weight,
                        "health_path": rev.health_path,
                    }
                    for rid, rev in dep.revisions.items()
                },
                "stable": dep.stable,
                "candidate": dep.candidate,
                "weights_source": dep.weights_source,
            },
        )

    # -- internals: restore ----------------------------------------------------------------------

    def _restore_plan(
        self, current: Placement, release: Release | None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """What to bring back: one entry per revision (id, version, replicas, weight, health_path,
        by_version) and the deployment's stable/candidate/weights_source. Without a release (an
        adoption) every recorded revision comes back as recorded."""
        details = current.details
        recorded = details.get("revisions") or {}
        if recorded and (
            release is None
            or len(recorded) > 1
            or next(iter(recorded.values())).get("version") == release.version
        ):
            plan = [
                {
                    "id": str(rid),
                    "version": str(info.get("version")),
                    "replicas": max(0, int(info.get("replicas", 0))),
                    "weight": int(info.get("weight", 0)),
                    "health_path": str(
                        info.get("health_path") or (release.health.path if release else "/health")
                    ),
                    "by_version": False,
                }
                for rid, info in recorded.items()
            ]
            state = {
                "stable": details.get("stable"),
                "candidate": details.get("candidate"),
                "weights_source": details.get("weights_source") or FIXED,
            }
            if state["stable"] not in recorded and state["candidate"] not in recorded:
                state["stable"] = plan[0]["id"]
            return plan, state
        # one revision (or a placement from before revisions): run release.version
        revision = str(details.get("revision") or "")
        version = release.version if release is not None else current.version
        same = not recorded and revision and current.version == version
        rid = revision if same else self._revision(version)
        entry = {
            "id": rid,
            "version": version,
            "replicas": current.replicas,
            "weight": 100,
            "health_path": release.health.path if release is not None else "/health",
            "by_version": True,
        }
        return [entry], {"stable": rid, "candidate": None, "weights_source": FIXED}

    def _restore(self, current: Placement, release: Release | None) -> Placement:
        """Rebuild the deployment of ``current`` on its stable port: adopt the recorded replicas
        still alive and healthy, and (with a release) start the missing ones."""
        self._check_open()
        port = self._stable_port(current)
        if port is None:
            raise ProviderError("placement has no stable_port: nothing to restore")
        with self._lock:
            known = self._deployments.get(port)
        if known is not None:
            with known.lock:
                return self._placement(known)

        plan, state = self._restore_plan(current, release)
        adopted: dict[str, list[Replica]] = {e["id"]: [] for e in plan}
        discard: list[Replica] = []
        for data in current.details.get("replicas") or []:
            r = Replica.from_dict(data, host=self.host)
            if not r.is_same_process():
                continue
            entry = next(
                (e for e in plan if r.version == e["version"] and (e["by_version"] or r.revision == e["id"])),
                None,
            )
            if entry is None:
                discard.append(r)
                continue
            healthy = False
            for _ in range(3):
                healthy, _what = probe(r.host, r.port, entry["health_path"], timeout=1.0)
                if healthy:
                    break
                time.sleep(self.poll_interval)
            if healthy:
                r.revision = entry["id"]
                adopted[entry["id"]].append(r)
            else:
                discard.append(r)
        kept = [r for rs in adopted.values() for r in rs]
        if release is None and not kept:
            raise ProviderError(
                f"no live replica of the deployment on port {port} to adopt: restore() it with a release"
            )
        stop_replicas(discard)
        with self._lock:
            self._reserved_ports.update(r.port for r in kept)

        try:
            router = self._start_router(port, retry_seconds=3.0)
        except ProviderError:
            self._release_ports(kept)
            raise
        dep = _Deployment(
            component=str(current.details.get("component") or (release.component if release else "")),
            router=router,
            stable=state["stable"],
            candidate=state["candidate"],
            weights_source=state["weights_source"],
        )
        for e in plan:
            rel = (
                dataclasses.replace(release, version=e["version"], replicas=e["replicas"])
                if release is not None
                else None
            )
            dep.revisions[e["id"]] = _Revision(
                e["id"],
                e["version"],
                rel,
                adopted[e["id"]],
                weight=e["weight"],
                target_replicas=e["replicas"],
                health_path=e["health_path"],
            )
        with dep.lock:
            try:
                self._register(dep)
            except ProviderError:
                router.close()
                self._release_ports(kept)
                raise
            failure: ProviderError | None = None
            for rev in dep.revisions.values():
                missing = max(0, rev.target_replicas - len(rev.replicas))
                if not missing or rev.release is None:
                    continue
                try:
                    rev.replicas = rev.replicas + self._start_healthy(
                        dep, rev.release, self._spec(rev.release), missing, rev.id
                    )
                except ProviderError as exc:
                    failure = failure or exc
            self._rebalance(dep)
            self._route(dep)
            if failure is not None:
                if not dep.all_replicas():
                    self.stop(self._placement(dep))
                    raise failure
                raise ProviderError(
                    failure.reason, logs=failure.logs, placement=self._placement(dep)
                ) from failure
            return self._placement(dep)

    # -- internals: helpers ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing.is_set():
            raise ProviderError("the local provider is closed")

    @staticmethod
    def _check_live(dep: _Deployment) -> None:
        if dep.stopped:
            raise ProviderError(f"{dep.component} was stopped")

    @staticmethod
    def _known(dep: _Deployment, revision: str) -> _Revision:
        rev = dep.revisions.get(revision)
        if rev is None:
            raise ProviderError(f"unknown revision {revision!r} (have {sorted(dep.revisions)})")
        return rev

    @staticmethod
    def _revision(version: str) -> str:
        return f"{version}+{uuid.uuid4().hex[:6]}"

    @staticmethod
    def _stable_port(placement: Placement) -> int | None:
        value = placement.details.get("stable_port")
        return int(value) if value else None

    def _spec(self, release: Release) -> LaunchSpec:
        if release.replicas < 0:
            raise ProviderError(f"invalid replica count {release.replicas}")
        return build_launch_spec(
            release.component,
            release.version,
            dict(release.target or {}),
            dict(release.config or {}),
            host=self.host,
        )

    def _managed(self, placement: Placement) -> _Deployment:
        """The deployment of ``placement`` this object manages. One it does not know (after a
        control-plane restart) is adopted from the placement: its live, healthy replicas and the
        recorded weights come back, but replicas can only be started again once :meth:`restore`
        (or an operation with a release) has supplied the release."""
        self._check_open()
        port = self._stable_port(placement)
        if port is None:
            raise ProviderError("placement has no stable_port: not a local placement")
        with self._lock:
            dep = self._deployments.get(port)
        if dep is None:
            with self._restore_lock:
                self._restore(placement, None)
            with self._lock:
                dep = self._deployments.get(port)
            if dep is None:
                raise ProviderError(f"could not adopt the deployment on port {port}")
        return dep

    def _ensure(self, current: Placement, release: Release) -> _Deployment:
        """The managed deployment of ``current``; restored first if this object doesn't know it."""
        port = self._stable_port(current)
        if port is None:
            raise ProviderError("placement has no stable_port: not a local placement")
        with self._lock:
            dep = self._deployments.get(port)
        if dep is None:
            self.restore(current, dataclasses.replace(release, version=current.version))
            with self._lock:
                dep = self._deployments.get(port)
            if dep is None:
                raise ProviderError(f"could not restore the deployment on port {port}")
        return dep

    def _start_router(self, port: int, *, retry_seconds: float = 0.0) -> Router:
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                return Router(self.host, port, backend_timeout=self.router_timeout).start()
            except RouterError as exc:
                if time.monotonic() >= deadline:
                    raise ProviderError(f"cannot open the stable port: {exc}") from exc
                time.sleep(0.1)

    def _register(self, dep: _Deployment) -> None:
        with self._lock:
            if self._closing.is_set():
                raise ProviderError("the local provider is closed")
            self._deployments[dep.stable_port] = dep

    def _unregister(self, dep: _Deployment) -> None:
        with self._lock:
            if self._deployments.get(dep.stable_port) is dep:
                del self._deployments[dep.stable_port]

    def _pick_port(self) -> int:
        with self._lock:
            for _ in range(50):
                port = free_port(self.host)
                if port not in self._reserved_ports and not any(
                    d.stable_port == port for d in self._deployments.values()
                ):
                    self._reserved_ports.add(port)
                    return port
        raise ProviderError("no free port found")

    def _release_ports(self, replicas: list[Replica]) -> None:
        with self._lock:
            for r in replicas:
                self._reserved_ports.discard(r.port)

    def _start_healthy(
        self,
        dep: _Deployment,
        release: Release,
        spec: LaunchSpec,
        count: int,
        revision: str,
    ) -> list[Replica]:
        """Start ``count`` replicas of ``release`` for ``revision`` and wait until all are healthy;
        on failure stop them all and raise ProviderError with the failing one's last log lines."""
        started: list[Replica] = []
        log_dir = self.data_dir / "logs" / safe_name(release.component)
        try:
            for _ in range(count):
                port = self._pick_port()
                try:
                    started.append(
                        spawn(
                            spec,
                            component=release.component,
                            version=release.version,
                            revision=revision,
                            port=port,
                            log_dir=log_dir,
                            now=self.clock.time(),
                            host=self.host,
                        )
                    )
                except ProviderError:
                    with self._lock:
                        self._reserved_ports.discard(port)
                    raise
            wait_healthy(
                started,
                release.health.path,
                release.health.timeout_seconds,
                interval=self.poll_interval,
                cancel=self._closing,
            )
        except StartFailure as failure:
            stop_replicas(started, grace=min(spec.grace_seconds, 2.0))
            self._release_ports(started)
            r = failure.replica
            raise ProviderError(
                f"{release.component} {release.version}: {failure.reason} (log: {r.log_path})",
                logs=r.tail(),
            ) from None
        except BaseException:
            stop_replicas(started, grace=min(spec.grace_seconds, 2.0))
            self._release_ports(started)
            raise
        return started
