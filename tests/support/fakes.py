"""A recording provider for tests of the job logic (real processes are tested separately)."""

from __future__ import annotations

import threading

from pilothouse.providers.base import Placement, ProviderError, Release


class RecordingProvider:
    name = "local"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []
        self.fail: dict[str, str] = {}  # operation → reason
        self._lock = threading.Lock()

    def _record(self, op: str, version: str, replicas: int) -> None:
        with self._lock:
            self.calls.append((op, version, replicas))

    def _placement(self, release: Release, replicas: int) -> Placement:
        return Placement(
            url=f"http://127.0.0.1:9/{release.component}",
            version=release.version,
            replicas=replicas,
            details={"fake": True},
        )

    def deploy(self, release: Release) -> Placement:
        self._record("deploy", release.version, release.replicas)
        if "deploy" in self.fail:
            raise ProviderError(self.fail["deploy"], logs=["line 1", "boom"])
        return self._placement(release, release.replicas)

    def scale(self, current: Placement, release: Release, replicas: int) -> Placement:
        self._record("scale", release.version, replicas)
        if "scale" in self.fail:
            raise ProviderError(self.fail["scale"], placement=current)
        return self._placement(release, replicas)

    def stop(self, current: Placement) -> None:
        self._record("stop", current.version, current.replicas)
        if "stop" in self.fail:
            raise ProviderError(self.fail["stop"])

    def restore(self, current: Placement, release: Release) -> Placement:
        self._record("restore", current.version, current.replicas)
        return current

    def close(self) -> None:
        pass


class RevisionFake(RecordingProvider):
    """A provider with revisions and weights in memory; tests set health and metrics per version."""

    def __init__(self) -> None:
        super().__init__()
        self.unhealthy_versions: set[str] = set()
        self.broken_versions: set[str] = set()
        self.broken_components: set[str] = set()  # every version of these exits at start
        self.metrics: dict[str, dict] = {}  # version → Metrics fields
        self._n = 0

    def _rev(self, version: str) -> str:
        self._n += 1
        return f"{version}+r{self._n}"

    @staticmethod
    def _with(placement: Placement, revisions: dict, **details) -> Placement:
        total = sum(r["replicas"] for r in revisions.values())
        serving = (
            max(revisions.items(), key=lambda kv: kv[1]["weight"])[1]["version"]
            if revisions
            else placement.version
        )
        d = {**placement.details, "revisions": revisions, **details}
        return Placement(url=placement.url, version=serving, replicas=total, details=d)

    def deploy(self, release: Release) -> Placement:
        placement = super().deploy(release)
        rev = self._rev(release.version)
        return self._with(
            placement,
            {rev: {"version": release.version, "replicas": release.replicas, "weight": 100}},
            stable=rev,
            candidate=None,
        )

    def prepare(self, current, release):
        self._record("prepare", release.version, release.replicas)
        if release.version in self.broken_versions or release.component in self.broken_components:
            raise ProviderError(
                f"{release.version} exited at start", logs=["Traceback", "boom"], placement=current
            )
        rev = self._rev(release.version)
        entry = {"version": release.version, "replicas": release.replicas, "weight": 0}
        if current is None:
            base = Placement(
                url=f"http://127.0.0.1:9/{release.component}", version=release.version, replicas=0, details={}
            )
            return self._with(base, {rev: entry}, stable=None, candidate=rev)
        revisions = {**current.details["revisions"], rev: entry}
        return self._with(current, revisions, candidate=rev)

    def shift(self, placement, weights):
        self._record("shift", ",".join(f"{k}={v}" for k, v in sorted(weights.items())), 0)
        assert sum(weights.values()) == 100 and set(weights) <= set(placement.details["revisions"])
        revisions = {k: {**v, "weight": weights.get(k, 0)} for k, v in placement.details["revisions"].items()}
        return self._with(placement, revisions)

    def set_replicas(self, placement, revision, replicas):
        self._record("replicas", revision, replicas)
        revisions = {
            k: ({**v, "replicas": replicas} if k == revision else v)
            for k, v in placement.details["revisions"].items()
        }
        return self._with(placement, revisions)

    def check_health(self, placement, revision):
        from pilothouse.providers.base import HealthResult

        version = placement.details["revisions"][revision]["version"]
        n = placement.details["revisions"][revision]["replicas"]
        bad = version in self.unhealthy_versions
        return HealthResult(healthy=not bad, checked=n, failing=n if bad else 0, detail="503" if bad else "")

    def read_metrics(self, placement, revision, window_seconds):
        from pilothouse.providers.base import Metrics

        version = placement.details["revisions"][revision]["version"]
        m = self.metrics.get(version, {"requests": 100, "errors": 0})
        rate = (m["errors"] / m["requests"]) if m["requests"] else None
        return Metrics(
            requests=m["requests"],
            errors=m["errors"],
            error_rate=rate,
            p99_ms=m.get("p99_ms", 20.0) if m["requests"] else None,
            window_seconds=window_seconds,
            alarms_in_alarm=tuple(m.get("alarms", ())),
        )

    def finalize(self, placement, revision):
        self._record("finalize", revision, 0)
        entry = {**placement.details["revisions"][revision], "weight": 100}
        return self._with(placement, {revision: entry}, stable=revision, candidate=None)

    def rollback(self, placement, revision):
        self._record("rollback", revision, 0)
        entry = {**placement.details["revisions"][revision], "weight": 100}
        return self._with(placement, {revision: entry}, stable=revision, candidate=None)

    def scale(self, current, release, replicas):
        self._record("scale", release.version, replicas)
        if "scale" in self.fail:
            raise ProviderError(self.fail["scale"], placement=current)
        stable = current.details["stable"]
        revisions = {
            k: ({**v, "replicas": replicas} if k == stable else v)
            for k, v in current.details["revisions"].items()
        }
        return self._with(current, revisions)
