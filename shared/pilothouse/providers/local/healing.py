"""Self-healing for the local provider: probe each replica, replace those that exited or failed
their health check, and stop replicas nothing records (orphans a killed control plane left).

These are the :class:`~pilothouse.ports.providers.ReplicaHealing` operations the health sweep
calls; they act on one revision set under its lock, so they never interleave with a deployment's
operations on the same component.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pilothouse.ports.providers import Replacement, ReplicaEndpoint, ReplicaProbe
from pilothouse.providers.base import Placement, ProviderError, Release
from pilothouse.providers.local.journal import terminate
from pilothouse.providers.local.lifecycle import _recorded_alive
from pilothouse.providers.local.process import Replica, probe
from pilothouse.providers.local.revision_set import stable_port_of
from pilothouse.providers.local.revisions import _RevisionOps

__all__: list[str] = []


def _probe_one(replica: Replica, path: str, timeout: float) -> ReplicaProbe:
    rid, pid, port, rev = (
        replica.replica_id or f"pid-{replica.pid}",
        replica.pid,
        replica.port,
        replica.revision,
    )
    if not replica.is_same_process():
        code = replica.exit_code()
        why = f"process {pid} exited" + (f" with code {code}" if code not in (None, -1) else "")
        return ReplicaProbe(rid, alive=False, ok=False, error=why, pid=pid, port=port, revision=rev)
    ok, what = probe(replica.host, port, path, timeout=timeout)
    error = None if ok else f"GET {path}: {what}"
    return ReplicaProbe(rid, alive=True, ok=ok, error=error, pid=pid, port=port, revision=rev)


class _Healing(_RevisionOps):
    """Probing, replacing and reaping replicas for the health sweep."""

    def probe_replicas(self, placement: Placement, timeout_seconds: float) -> list[ReplicaProbe]:
        """Probe every replica of every revision of ``placement`` (in parallel, ``timeout_seconds``
        each). A placement this object does not manage (a restore that failed) is probed from its
        record, so a dead replica reports exited and :meth:`replace_replicas` restores it."""
        targets = self._replicas_of(placement)
        if len(targets) <= 1:
            return [_probe_one(r, path, timeout_seconds) for r, path in targets]
        with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
            return list(pool.map(lambda t: _probe_one(t[0], t[1], timeout_seconds), targets))

    def replica_endpoints(self, placement: Placement) -> list[ReplicaEndpoint]:
        """Each replica's own address (``http://127.0.0.1:<port>``), bypassing the router, and
        whether its process still runs (a dead one is not to be asked)."""
        return [
            ReplicaEndpoint(r.replica_id or f"pid-{r.pid}", r.url, r.is_same_process(), r.revision)
            for r, _ in self._replicas_of(placement)
        ]

    def _replicas_of(self, placement: Placement) -> list[tuple[Replica, str]]:
        """Every replica of ``placement`` with its revision's health path: from the revision set
        this object runs, or from the placement's record when it runs none."""
        rset = self._revision_set(stable_port_of(placement))
        if rset is not None:
            with rset.lock:
                return [(r, rev.health_path) for rev in rset.revisions.values() for r in rev.replicas]
        paths = {
            rid: str(info.get("health_path") or "/health")
            for rid, info in (placement.details.get("revisions") or {}).items()
        }
        return [
            (Replica.from_dict(d, host=self.host), paths.get(str(d.get("revision")), "/health"))
            for d in placement.details.get("replicas") or []
        ]

    def replace_replicas(
        self, placement: Placement, release: Release, replica_ids: list[str]
    ) -> tuple[Placement, list[Replacement]]:
        """Take the named replicas out of the router, stop them (if still running) and start a
        healthy replica of the same revision in place of each. A placement this object does not
        manage is restored first (its dead replicas are then replaced by the restore itself)."""
        wanted = set(replica_ids)
        recorded = {str(d.get("id")) for d in placement.details.get("replicas") or []}
        rset = self._found_or(
            placement,
            lambda: self.restore(placement, dataclasses.replace(release, version=placement.version)),
            "restore",
        )
        done: list[Replacement] = []
        with rset.lock:
            rset.check_live()
            for rev in rset.revisions.values():
                victims = [r for r in rev.replicas if r.replica_id in wanted]
                if not victims:
                    continue
                if rev.release is None:
                    rev.release = dataclasses.replace(
                        release, version=rev.version, replicas=len(rev.replicas)
                    )
                rev.replicas = [r for r in rev.replicas if r.replica_id not in wanted]
                rset.rebalance()
                rset.route()
                self._stop_replicas(victims, grace=min(2.0, victims[0].grace_seconds))
                self._release_ports(victims)
                try:
                    started = self._start_healthy(
                        rset, rev.release, self._spec(rev.release), len(victims), rev.id
                    )
                except ProviderError as exc:
                    done += [Replacement(v.replica_id, None, exc.reason) for v in victims]
                    continue
                rev.replicas = rev.replicas + started
                done += [
                    Replacement(v.replica_id, s.replica_id) for v, s in zip(victims, started, strict=True)
                ]
            rset.rebalance()
            rset.route()
            # a restore just now replaced what was gone: pair the missing ids with the newcomers
            current = {r.replica_id for r in rset.all_replicas()}
            handled = {d.old for d in done}
            newcomers = sorted(current - recorded - {d.new for d in done if d.new})
            for old in sorted(wanted - handled - current):
                done.append(Replacement(old, newcomers.pop(0) if newcomers else None))
            return self._placement(rset), done

    def reap_orphans(self, keep: set[str]) -> list[dict[str, Any]]:
        """Stop the replicas of this data dir that no revision set here manages and whose ids are
        not in ``keep`` (the replicas the component records name), and drop their journal records:
        what a control plane killed between spawning a replica and recording it left behind.

        Acts only for the control plane that owns the data dir (``pilothouse dev``): another
        process does not know what the owner is starting right now. Returns the reaped records
        (``id``, ``pid``, ``component``, ``revision``, ``port``)."""
        if not self.owns_data_dir:
            return []
        with self._restore_lock:
            records = self.journal.records()
            tagged = self.journal.tagged()
            managed, pids = self._managed_ids()
            keep_ids = managed | set(keep)
            reaped: dict[str, dict[str, Any]] = {}
            victims: set[int] = set()
            for rid, rec in records.items():
                if rid in keep_ids or rec.get("pid") in pids:
                    continue
                alive = [t.pid for t in tagged if t.replica_id == rid]
                if isinstance(rec.get("pid"), int) and _recorded_alive(rec):
                    alive.append(int(rec["pid"]))
                alive = [p for p in alive if p not in pids]
                victims.update(alive)
                reaped[rid] = {k: rec.get(k) for k in ("id", "pid", "component", "revision", "port")}
                reaped[rid]["id"] = rid
                if alive and reaped[rid]["pid"] not in alive:
                    reaped[rid]["pid"] = alive[0]
            for t in tagged:
                if t.replica_id not in keep_ids and t.replica_id not in records and t.pid not in pids:
                    victims.add(t.pid)
                    reaped[t.replica_id] = {"id": t.replica_id, "pid": t.pid, "component": None}
            signalled = terminate(sorted(victims)) if victims else []
            for rid in reaped:
                if rid in records:
                    self.journal.forget(rid)
        return [r for r in reaped.values() if r.get("pid") in signalled]
