"""Where a component lives in Lambda (:class:`Target`: function, alias, region, health URL, alarms)
and the placement details the provider records about it (revisions = version numbers with their
release version, weight and replicas; ``stable`` and ``candidate``).
"""

from __future__ import annotations

from typing import Any

from pilothouse.providers.base import Placement, ProviderError, Release

__all__ = ["Target", "copy_revisions", "placement_of", "revision_info", "unqualified_arn"]


class Target:
    """The Lambda coordinates of a component (from a release or from placement details)."""

    def __init__(
        self, function: str, alias: str, region: str | None, health_url: str | None, alarms: list[str]
    ):
        self.function = function
        self.alias = alias
        self.region = region
        self.health_url = health_url
        self.alarms = alarms

    @property
    def bare_function(self) -> str:
        """The function's name (CloudWatch dimensions use names, not ARNs)."""
        if self.function.startswith("arn:"):
            return self.function.split(":")[6]
        return self.function.split(":")[-1] if self.function.count(":") == 2 else self.function

    @classmethod
    def of(cls, release: Release) -> Target:
        """The target of ``release`` (``release.target``; ``function_name`` is required)."""
        target = release.target
        if not target.get("function_name"):
            raise ProviderError("target.function_name is required for provider aws-lambda")
        alarms = target.get("alarms") or []
        if isinstance(alarms, str):
            alarms = [alarms]
        return cls(
            str(target["function_name"]),
            str(target.get("alias") or "live"),
            target.get("region"),
            target.get("health_url"),
            list(alarms),
        )

    @classmethod
    def of_details(cls, d: dict[str, Any]) -> Target:
        """The target recorded in placement details."""
        if not d.get("function_name"):
            raise ProviderError("placement has no Lambda function (details.function_name)")
        return cls(
            d["function_name"],
            d.get("alias") or "live",
            d.get("region"),
            d.get("health_url"),
            list(d.get("alarms") or []),
        )


def revision_info(version: str, weight: int, replicas: int = 1) -> dict[str, Any]:
    """What the details record of one revision."""
    return {"version": version, "replicas": replicas, "weight": weight}


def copy_revisions(d: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A copy of the details' revisions that may be changed without touching ``d``."""
    return {k: dict(v) for k, v in (d.get("revisions") or {}).items()}


def unqualified_arn(arn: str) -> str:
    """``arn`` without a trailing version qualifier."""
    return arn.rsplit(":", 1)[0] if arn.count(":") >= 7 else arn


def placement_of(d: dict[str, Any]) -> Placement:
    """The placement of details ``d``: the stable revision's version and replicas."""
    stable = d.get("stable")
    info = (d.get("revisions") or {}).get(stable) or {}
    return Placement(
        url=d.get("url"),
        version=str(info.get("version", "")),
        replicas=int(info.get("replicas", 1)),
        details=d,
    )
