"""A recording provider for tests of the job logic (real processes are tested separately)."""

from __future__ import annotations

import threading

from pilothouse.providers.base import Placement, ProviderError, Release


class RecordingProvider:
    name = "local"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int]] = []
        self.fail: dict[str, str] = {}  # operation → reason
        self.keep_on_failure = True
        self._lock = threading.Lock()

    def _record(self, op: str, version: str, replicas: int) -> None:
        with self._lock:
            self.calls.append((op, version, replicas))

    def _placement(self, release: Release, replicas: int) -> Placement:
        return Placement(url=f"http://127.0.0.1:9/{release.component}", version=release.version, replicas=replicas,
                         details={"fake": True})

    def deploy(self, release: Release) -> Placement:
        self._record("deploy", release.version, release.replicas)
        if "deploy" in self.fail:
            raise ProviderError(self.fail["deploy"], logs=["line 1", "boom"])
        return self._placement(release, release.replicas)

    def update(self, current: Placement, release: Release) -> Placement:
        self._record("update", release.version, release.replicas)
        if "update" in self.fail:
            raise ProviderError(self.fail["update"], logs=["unhealthy"],
                                placement=current if self.keep_on_failure else None)
        return self._placement(release, current.replicas)

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
