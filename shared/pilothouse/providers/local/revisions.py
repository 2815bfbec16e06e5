"""Revision operations of the local provider: the port's operations that add, resize, weigh and
retire revisions of a component's revision set (scale, prepare, shift, set_replicas, read_metrics,
finalize, rollback). How revisions and weights are kept is in
:mod:`pilothouse.providers.local.revision_set`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pilothouse.providers.base import Metrics, Placement, ProviderError, Release
from pilothouse.providers.local.process import Replica
from pilothouse.providers.local.restore import _Restoring
from pilothouse.providers.local.revision_set import BY_REPLICAS, FIXED, SHIFT, Revision, RevisionSet

__all__: list[str] = []


class _RevisionOps(_Restoring):
    """Operations on the revisions of a component's revision set (progressive delivery, and scale)."""

    def scale(self, current: Placement, release: Release, replicas: int) -> Placement:
        """Run ``replicas`` replicas of the primary revision behind the same URL."""
        self._check_open()
        if replicas < 0:
            raise ProviderError(f"cannot scale to {replicas} replicas")
        rset = self._ensure(current, release)
        with rset.lock:
            rset.check_live()
            rev = rset.primary
            if rev.release is None:
                rev.release = dataclasses.replace(release, version=rev.version)
            self._resize(rset, rev, replicas, release=dataclasses.replace(release, version=rev.version))
            return self._placement(rset)

    def prepare(self, current: Placement | None, release: Release) -> Placement:
        """Start ``release.replicas`` replicas of ``release`` as a new revision, the ``candidate``,
        wait until they are healthy and add it to the router at 0 % (stable at 100 %).

        A candidate already there is replaced (drained and stopped). With ``current`` None the
        candidate is the only revision and takes 100 %; so it does when the stable has no replica
        left (scaled to 0 before, as a recreate does). On failure what started is stopped and
        :class:`ProviderError` carries the failing replica's log tail and ``placement=current``.
        """
        if current is None:
            return self._new_revision_set(release, as_candidate=True)
        with self._new_revision(current, release, weight=0, count=release.replicas) as (rset, rev):
            old = None
            if rset.candidate in rset.revisions and rset.candidate != rset.stable:
                old = rset.revisions.pop(rset.candidate)
            rset.revisions[rev.id] = rev
            rset.candidate = rev.id
            if rset.stable not in rset.revisions:
                rset.stable = None
            # the stable keeps all the traffic -- unless it has no replica left to serve it (a
            # recreate scaled it to 0 first): then the candidate takes it
            serving = (
                rset.stable if rset.stable is not None and rset.revisions[rset.stable].replicas else rev.id
            )
            for r in rset.revisions.values():
                r.weight = 100 if r.id == serving else 0
            rset.weights_source = FIXED
            rset.route()
            if old is not None:
                rset.retired.append(old.id)
                self._retire(rset, old.replicas)
            return self._placement(rset)

    def shift(self, placement: Placement, weights: dict[str, int]) -> Placement:
        """Route whole percentages of the traffic to revisions of ``placement``; revisions left
        out get 0. Weights must be integers in 0..100 summing to 100, and a revision given a
        positive weight must have replicas. From now on replica changes leave weights alone."""
        rset = self._managed(placement)
        with rset.lock:
            rset.check_live()
            if not isinstance(weights, dict) or not weights:
                raise ProviderError("weights must map revision ids to percentages")
            for rid, w in weights.items():
                rev = rset.known(rid)
                if isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100:
                    raise ProviderError(f"weight of {rid!r} must be a whole percentage, got {w!r}")
                if w > 0 and not rev.replicas:
                    raise ProviderError(f"revision {rid!r} has no replicas to take {w}% of the traffic")
            if sum(weights.values()) != 100:
                raise ProviderError(f"weights must sum to 100, got {sum(weights.values())}")
            for rid, rev in rset.revisions.items():
                rev.weight = int(weights.get(rid, 0))
            rset.weights_source = SHIFT
            rset.route()
            return self._placement(rset)

    def set_replicas(self, placement: Placement, revision: str, replicas: int) -> Placement:
        """Run ``replicas`` replicas of ``revision`` (new ones join the router once healthy; removed
        ones leave it, are drained, then stopped). Unless :meth:`shift` set weights, traffic then
        follows the revisions' replica counts."""
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
            raise ProviderError(f"invalid replica count {replicas!r}")
        rset = self._managed(placement)
        with rset.lock:
            rset.check_live()
            rev = rset.known(revision)
            if rset.weights_source != SHIFT:
                rset.weights_source = BY_REPLICAS
            self._resize(rset, rev, replicas, release=rev.release)
            return self._placement(rset)

    def read_metrics(self, placement: Placement, revision: str, window_seconds: float) -> Metrics:
        """Requests, errors (5xx, including the router's own 502s) and p99 latency of ``revision``
        over the last ``window_seconds``, as counted by the router."""
        if window_seconds <= 0:
            raise ProviderError(f"window must be positive, got {window_seconds!r}")
        rset = self._managed(placement)
        with rset.lock:
            if revision not in rset.revisions and revision not in rset.retired:
                raise ProviderError(f"unknown revision {revision!r}")
        w = rset.router.window(revision, window_seconds)
        return Metrics(
            requests=w["requests"],
            errors=w["errors"],
            error_rate=w["error_rate"],
            p99_ms=w["p99_ms"],
            window_seconds=float(window_seconds),
        )

    def collect_metrics(self, placement: Placement, since: float, until: float) -> list[dict[str, Any]]:
        """What the router measured of every revision over [since, until) (epoch seconds), as
        datapoints (:mod:`pilothouse.providers.local.metric_samples`)."""
        from pilothouse.providers.local.metric_samples import router_datapoints

        return router_datapoints(self._managed(placement), since, until, self.clock)

    def finalize(self, placement: Placement, revision: str) -> Placement:
        """Make ``revision`` the only one (100 %, the new stable); drain and stop the others."""
        rset = self._managed(placement)
        with rset.lock:
            rset.check_live()
            rev = rset.known(revision)
            if not rev.replicas:
                raise ProviderError(
                    f"revision {revision!r} has no replicas: cannot make it the only one",
                    placement=self._placement(rset),
                )
            self._make_only(rset, rev)
            return self._placement(rset)

    def rollback(self, placement: Placement, revision: str) -> Placement:
        """Send all traffic to ``revision`` at once; drain and stop the others. If ``revision`` has
        no replicas left (a rolling deployment scaled it down), its last replica count (at least
        1) is started first; if that fails nothing changes and ProviderError is raised."""
        rset = self._managed(placement)
        with rset.lock:
            rset.check_live()
            rev = rset.known(revision)
            if not rev.replicas:
                count = max(1, rev.target_replicas)
                with self._placed(rset):
                    release = rev.startable()
                    rev.replicas = self._start_healthy(rset, release, self._spec(release), count, rev.id)
            self._make_only(rset, rev)
            return self._placement(rset)

    # -- internals -------------------------------------------------------------------------------

    def _new_revision_set(self, release: Release, *, as_candidate: bool) -> Placement:
        """A new deployment of ``release`` alone (100 %) behind a new router (lock-free caller)."""
        self._check_open()
        spec = self._spec(release)
        router = self._start_router(int(release.target.get("port") or 0))
        rev = Revision.new(release, weight=100)
        rset = RevisionSet(component=release.component, router=router, revisions={rev.id: rev})
        if as_candidate:
            rset.candidate = rev.id
        else:
            rset.stable = rev.id
        with rset.lock:
            try:
                self._register(rset)  # so that a concurrent close() waits for this deploy and cleans up
                rev.replicas = self._start_healthy(rset, release, spec, release.replicas, rev.id)
            except BaseException:
                self._unregister(rset)
                router.close()
                raise
            rev.target_replicas = release.replicas
            rset.route()
            return self._placement(rset)

    @contextmanager
    def _new_revision(
        self, current: Placement, release: Release, *, weight: int, count: int
    ) -> Iterator[tuple[RevisionSet, Revision]]:
        """With the deployment of ``current`` locked, a new revision of ``release`` (at
        ``weight``, not routed yet) whose ``count`` replicas were started and are healthy. A failure
        to start them carries the revision set's placement."""
        self._check_open()
        rset = self._ensure(current, release)
        spec = self._spec(release)
        with rset.lock:
            rset.check_live()
            rev = Revision.new(release, weight=weight)
            with self._placed(rset):
                rev.replicas = self._start_healthy(rset, release, spec, count, rev.id)
            rev.target_replicas = count
            yield rset, rev

    def _resize(self, rset: RevisionSet, rev: Revision, replicas: int, *, release: Release | None) -> None:
        """Grow or shrink one revision (lock held); reroute; drain and stop what was removed."""
        have = len(rev.replicas)
        victims: list[Replica] = []
        if replicas > have:
            with self._placed(rset):
                release = release if release is not None else rev.startable()
                added = self._start_healthy(rset, release, self._spec(release), replicas - have, rev.id)
            rev.replicas = rev.replicas + added
        else:
            victims = rev.replicas[replicas:]
            rev.replicas = rev.replicas[:replicas]
        if replicas > 0:
            rev.target_replicas = replicas
        rset.rebalance()
        rset.route()
        self._retire(rset, victims)

    def _make_only(self, rset: RevisionSet, rev: Revision) -> None:
        """``rev`` takes 100 % and becomes the stable one; every other revision is drained and
        stopped (lock held)."""
        others = [r for r in rset.revisions.values() if r.id != rev.id]
        rev.weight = 100
        rset.revisions = {rev.id: rev}
        rset.stable, rset.candidate = rev.id, None
        rset.weights_source = FIXED
        rset.route()
        victims = [r for o in others for r in o.replicas]
        for o in others:
            rset.retired.append(o.id)
            o.replicas = []
        self._retire(rset, victims, wait=False)  # out of the router already: no need to wait for the exit
        rset.router.prune_stats(list(rset.retired))
