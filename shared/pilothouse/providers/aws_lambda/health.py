"""Health of a Lambda revision: an HTTP GET of ``health_url`` (or of the alias's function URL when
the revision takes all of the alias), else the version's ``State`` plus a test invoke; and the
wait until a new revision has passed its health check often enough.

Every HTTP GET goes through the outbound guard (:mod:`pilothouse.net.outbound`) with the policy in
``outbound`` (wiring sets it from the settings): no metadata or link-local addresses, no redirects
followed, the connection made to the address that was checked.
"""

from __future__ import annotations

import time
from typing import Any

from pilothouse.net.outbound import OutboundPolicy, OutboundRefused, request
from pilothouse.providers.aws_lambda.alias import _Aliases
from pilothouse.providers.aws_lambda.target import Target
from pilothouse.providers.base import HealthResult, Placement, ProviderError, Release

__all__: list[str] = []


class _Health(_Aliases):
    """Probing a revision's health, once or until it is healthy."""

    #: what the HTTP health checks may reach (loopback and private ranges allowed by default)
    outbound: OutboundPolicy = OutboundPolicy()

    def check_health(self, placement: Placement, revision: str) -> HealthResult:
        """One health probe of ``revision`` (see the package docstring for which one)."""
        d = placement.details
        revisions = d.get("revisions") or {}
        if revision not in revisions:
            return HealthResult(False, 0, 0, f"unknown revision {revision!r}")
        t = Target.of_details(d)
        version = str(revisions[revision].get("version", ""))
        url = d.get("health_url")
        if url:
            return self._http_health(url.replace("{revision}", revision).replace("{version}", version))
        only = int(revisions[revision].get("weight", 0)) == 100
        if only and placement.url and d.get("health_path"):
            return self._http_health(placement.url.rstrip("/") + d["health_path"])
        return self._invoke_health(t, revision)

    def _wait_healthy(self, placement: Placement, revision: str, release: Release) -> None:
        """Probe ``revision`` until ``release.health`` counts it healthy; ProviderError (with the
        probes' details as logs) once it counts it unhealthy or times out."""
        hc = release.health
        deadline = time.monotonic() + hc.timeout_seconds
        ok = bad = 0
        logs: list[str] = []
        while True:
            result = self.check_health(placement, revision)
            logs = (logs + [f"revision {revision}: {result.detail}"])[-20:]
            if result.healthy:
                ok, bad = ok + 1, 0
                if ok >= hc.healthy_threshold:
                    return
            else:
                ok, bad = 0, bad + 1
                if bad >= hc.unhealthy_threshold:
                    raise ProviderError(
                        f"revision {revision} ({release.version}) is unhealthy: {result.detail}", logs=logs
                    )
            if time.monotonic() >= deadline:
                raise ProviderError(
                    f"revision {revision} ({release.version}) not healthy after "
                    f"{hc.timeout_seconds:g}s: {result.detail}",
                    logs=logs,
                )
            self._sleep(hc.interval_seconds)

    def _http_health(self, url: str) -> HealthResult:
        import httpx

        try:
            status = request(
                "GET",
                url,
                policy=self.outbound,
                timeout=self.http_timeout,
                headers={"User-Agent": "pilothouse-health"},
                max_body_bytes=0,
            ).status_code
        except OutboundRefused as exc:
            return HealthResult(False, 1, 1, f"GET {url}: refused by the outbound guard: {exc.reason}")
        except (httpx.HTTPError, OSError, ValueError) as exc:
            return HealthResult(False, 1, 1, f"GET {url}: {exc}")
        healthy = 200 <= status < 300
        return HealthResult(healthy, 1, 0 if healthy else 1, f"GET {url}: HTTP {status}")

    def _invoke_health(self, t: Target, revision: str) -> HealthResult:
        try:
            conf = self._configuration(t, revision)
            state = conf.get("State", "Active")
            if state != "Active":
                return HealthResult(
                    False, 1, 1, f"version {revision} is {state}: {conf.get('StateReason', '')}".strip()
                )
            kwargs: dict[str, Any] = {"Qualifier": revision, "InvocationType": self.health_invocation}
            if self.health_invocation != "DryRun":
                kwargs["Payload"] = b"{}"
            answer = self._lambda(t, "Invoke", **kwargs)
        except ProviderError as exc:
            return HealthResult(False, 1, 1, exc.reason)
        status = int(answer.get("StatusCode", 0))
        error = answer.get("FunctionError")
        if error or not 200 <= status < 300:
            payload = answer.get("Payload")
            text = (
                payload.read(500).decode("utf-8", "replace")
                if payload is not None and hasattr(payload, "read")
                else ""
            )
            return HealthResult(
                False,
                1,
                1,
                f"Invoke {self.health_invocation} of version {revision}: "
                f"{status} {error or ''} {text}".strip(),
            )
        return HealthResult(True, 1, 0, f"Invoke {self.health_invocation} of version {revision}: {status}")
