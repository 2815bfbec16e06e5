"""Restore and adoption for the local provider: bring a revision set recorded in a placement back
under management after a control-plane restart -- adopt the recorded replicas that are still the
same process and healthy, start the missing ones (given a release), and reopen the router on the
same stable port.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from pilothouse.providers.base import Placement, ProviderError, Release
from pilothouse.providers.local.lifecycle import _ReplicaLifecycle
from pilothouse.providers.local.process import Replica, probe
from pilothouse.providers.local.revision_set import (
    FIXED,
    Revision,
    RevisionSet,
    new_revision_id,
    stable_port_of,
)

__all__ = ["restore_plan"]

ADOPT_PROBES = 3  # health probes of a recorded replica before it is given up


def restore_plan(current: Placement, release: Release | None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What to bring back of ``current``: one entry per revision (id, version, replicas, weight,
    health_path, by_version) and the revision set's stable/candidate/weights_source.

    Without a release (an adoption) every recorded revision comes back as recorded; so it does
    with a release when several revisions were recorded or the one recorded runs
    ``release.version``. Otherwise (one revision of another version, or a placement from before
    revisions) the plan is one revision of ``release.version``, matched to replicas by version.
    """
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
    rid = revision if same else new_revision_id(version)
    entry = {
        "id": rid,
        "version": version,
        "replicas": current.replicas,
        "weight": 100,
        "health_path": release.health.path if release is not None else "/health",
        "by_version": True,
    }
    return [entry], {"stable": rid, "candidate": None, "weights_source": FIXED}


class _Restoring(_ReplicaLifecycle):
    """Bringing recorded revision sets back under management (restore, adoption)."""

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

    def _managed(self, placement: Placement) -> RevisionSet:
        """The revision set of ``placement`` this object manages. One it does not know (after a
        control-plane restart) is adopted from the placement: its live, healthy replicas and the
        recorded weights come back, but replicas can only be started again once :meth:`restore`
        (or an operation with a release) has supplied the release."""
        self._check_open()

        def adopt() -> None:
            with self._restore_lock:
                self._restore(placement, None)

        return self._found_or(placement, adopt, "adopt")

    def _ensure(self, current: Placement, release: Release) -> RevisionSet:
        """The managed revision set of ``current``; restored first if this object doesn't know it."""
        return self._found_or(
            current,
            lambda: self.restore(current, dataclasses.replace(release, version=current.version)),
            "restore",
        )

    def _found_or(self, placement: Placement, bring_back: Callable[[], object], verb: str) -> RevisionSet:
        """The managed revision set of ``placement``, after ``bring_back()`` if there is none yet."""
        port = stable_port_of(placement)
        if port is None:
            raise ProviderError("placement has no stable_port: not a local placement")
        rset = self._revision_set(port)
        if rset is None:
            bring_back()
            rset = self._revision_set(port)
            if rset is None:
                raise ProviderError(f"could not {verb} the revision set on port {port}")
        return rset

    def _restore(self, current: Placement, release: Release | None) -> Placement:
        """Rebuild the revision set of ``current`` on its stable port: adopt the recorded replicas
        still alive and healthy, and (with a release) start the missing ones."""
        self._check_open()
        port = stable_port_of(current)
        if port is None:
            raise ProviderError("placement has no stable_port: nothing to restore")
        known = self._revision_set(port)
        if known is not None:
            with known.lock:
                return self._placement(known)

        plan, state = restore_plan(current, release)
        adopted, discard = self._adopt_recorded(current, plan)
        kept = [r for rs in adopted.values() for r in rs]
        if release is None and not kept:
            raise ProviderError(
                f"no live replica of the revision set on port {port} to adopt: restore() it with a release"
            )
        self._stop_replicas(discard)
        self._reserve_ports(kept)
        try:
            router = self._start_router(port, retry_seconds=3.0)
        except ProviderError:
            self._release_ports(kept)
            raise
        rset = RevisionSet(
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
            rset.revisions[e["id"]] = Revision(
                e["id"],
                e["version"],
                rel,
                adopted[e["id"]],
                weight=e["weight"],
                target_replicas=e["replicas"],
                health_path=e["health_path"],
            )
        with rset.lock:
            try:
                self._register(rset)
            except ProviderError:
                router.close()
                self._release_ports(kept)
                raise
            return self._start_missing(rset)

    def _adopt_recorded(
        self, current: Placement, plan: list[dict[str, Any]]
    ) -> tuple[dict[str, list[Replica]], list[Replica]]:
        """The recorded replicas of ``current`` that are still the same process, run a planned
        revision and answer its health check (by revision id), and the other live ones."""
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
            if entry is not None and self._answers(r, entry["health_path"]):
                r.revision = entry["id"]
                adopted[entry["id"]].append(r)
            else:
                discard.append(r)
        return adopted, discard

    def _answers(self, replica: Replica, path: str) -> bool:
        """Whether ``replica`` answers its health check within :data:`ADOPT_PROBES` probes."""
        for _ in range(ADOPT_PROBES):
            healthy, _what = probe(replica.host, replica.port, path, timeout=1.0)
            if healthy:
                return True
            time.sleep(self.poll_interval)
        return False

    def _start_missing(self, rset: RevisionSet) -> Placement:
        """Start what each revision lacks of its recorded replica count (those with a release),
        then route (lock held). A failure still routes what runs; with nothing running at all the
        revision set is stopped and the failure raised as is."""
        failure: ProviderError | None = None
        for rev in rset.revisions.values():
            missing = max(0, rev.target_replicas - len(rev.replicas))
            if not missing or rev.release is None:
                continue
            try:
                rev.replicas = rev.replicas + self._start_healthy(
                    rset, rev.release, self._spec(rev.release), missing, rev.id
                )
            except ProviderError as exc:
                failure = failure or exc
        rset.rebalance()
        rset.route()
        if failure is not None:
            if not rset.all_replicas():
                self.stop(self._placement(rset))
                raise failure
            raise ProviderError(
                failure.reason, logs=failure.logs, placement=self._placement(rset)
            ) from failure
        return self._placement(rset)
