"""The Lambda provider's port operations: deploy, update, scale, stop, restore, and the progressive
delivery ones (prepare, shift, set_replicas, finalize, rollback). How Lambda maps onto them is in
the package docstring (:mod:`pilothouse.providers.aws_lambda`).
"""

from __future__ import annotations

from typing import Any

from pilothouse.providers.aws_lambda.alias import alias_weights
from pilothouse.providers.aws_lambda.client import carrying, is_not_found
from pilothouse.providers.aws_lambda.environment import _Environment
from pilothouse.providers.aws_lambda.metrics import _MetricsAndAlarms
from pilothouse.providers.aws_lambda.target import (
    Target,
    copy_revisions,
    placement_of,
    revision_info,
    unqualified_arn,
)
from pilothouse.providers.base import Placement, ProviderError, Release

__all__ = ["LambdaProvider"]


class LambdaProvider(_MetricsAndAlarms, _Environment):
    """A :class:`~pilothouse.providers.base.RevisionProvider` for AWS Lambda functions.

    ``lambda_client`` / ``cloudwatch_client`` (boto3 clients) are used as given when passed (tests,
    one region); otherwise clients are created per region with ``endpoint_url`` (default: boto3's
    own resolution, which honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_LAMBDA``) and
    ``region`` as the default region. ``timeout_seconds`` bounds waits for a version to become
    active; ``poll_interval`` is their period.
    """

    name = "aws-lambda"

    # -- the port --------------------------------------------------------------------------------

    def deploy(self, release: Release) -> Placement:
        """Publish a version, point the alias at it (100 %), check its health."""
        t = Target.of(release)
        with self._function_lock(t):
            access = self._configure(t, release)
            rev, arn = self._publish(t, release.version)
            alias = self._get_alias(t)
            self._put_alias(t, rev, None, exists=alias is not None)
            details = self._details(
                t, release, arn, {rev: revision_info(release.version, 100)}, stable=rev, candidate=None
            )
            details["secret_access"] = access
            placement = placement_of(details)
            self._wait_healthy(placement, rev, release)
            return placement

    def scale(self, current: Placement, release: Release, replicas: int) -> Placement:
        """Provisioned concurrency of the alias (0 removes it)."""
        d = dict(current.details)
        stable = str(d.get("stable"))
        return (
            self.set_replicas(placement_of(d), stable, replicas)
            if stable in (d.get("revisions") or {})
            else current
        )

    def stop(self, current: Placement) -> None:
        """Delete the alias (with its provisioned concurrency); the versions stay published."""
        t = Target.of_details(current.details)
        with self._function_lock(t):
            try:
                self._lambda(t, "DeleteAlias", Name=t.alias)
            except ProviderError as exc:
                if not is_not_found(exc):
                    raise

    def restore(self, current: Placement, release: Release) -> Placement:
        """Read the alias back (the truth after a restart); re-create it at ``stable`` if missing."""
        d = dict(current.details)
        t = Target.of_details(d) if d.get("function_name") else Target.of(release)
        with self._function_lock(t):
            alias = self._get_alias(t)
            revisions = copy_revisions(d)
            if alias is None:
                stable = d.get("stable")
                if stable is None:
                    return self.deploy(release)
                self._put_alias(t, str(stable), None, exists=False)
                alias = self._get_alias(t) or {"FunctionVersion": str(stable)}
            weights = alias_weights(alias)
            for rev in weights:
                if rev not in revisions:
                    conf = self._configuration(t, rev)
                    revisions[rev] = revision_info(conf.get("Description") or release.version, 0)
            for rev, info in revisions.items():
                info["weight"] = weights.get(rev, 0)
            primary = str(alias["FunctionVersion"])
            d["revisions"] = revisions
            if d.get("stable") not in weights:
                d["stable"] = primary
            if d.get("candidate") is not None and d["candidate"] not in revisions:
                d["candidate"] = None
            d["url"] = self._function_url(t)
            return placement_of(d)

    # -- progressive delivery ----------------------------------------------------------------------

    def prepare(self, current: Placement | None, release: Release) -> Placement:
        """Publish the candidate version beside what the alias serves (0 % to it) and check it."""
        if current is None:
            placement = self.deploy(release)
            d = dict(placement.details)
            d["candidate"] = d["stable"]
            return placement_of(d)
        t = Target.of(release)
        with self._function_lock(t):
            d = dict(current.details)
            stable = str(d["stable"])
            with carrying(current):
                d["secret_access"] = self._configure(t, release)
            rev, _arn = self._publish(t, release.version, current=current)
            if rev in (d.get("revisions") or {}):
                raise ProviderError(
                    f"PublishVersion returned version {rev}, which already serves: the function's code and "
                    f"configuration did not change since (upload the code of {release.version} first)",
                    placement=current,
                )
            revisions = {stable: dict(d["revisions"][stable])}
            revisions[rev] = revision_info(release.version, 0)
            d.update(revisions=revisions, candidate=rev, health_url=t.health_url, alarms=list(t.alarms))
            placement = placement_of(d)
            with carrying(current):
                self._wait_healthy(placement, rev, release)
            return placement

    def shift(self, placement: Placement, weights: dict[str, int]) -> Placement:
        """Route ``weights`` (percent) through the alias: primary version + one additional weight."""
        d = dict(placement.details)
        revisions = copy_revisions(d)
        weights = {str(k): int(v) for k, v in weights.items()}
        unknown = sorted(set(weights) - set(revisions))
        if unknown:
            raise ProviderError(
                f"unknown revisions {unknown} (known: {sorted(revisions)})", placement=placement
            )
        if any(w < 0 for w in weights.values()) or sum(weights.values()) != 100:
            raise ProviderError(
                f"weights must be non-negative and sum to 100, got {weights}", placement=placement
            )
        serving = {k: w for k, w in weights.items() if w > 0}
        if len(serving) > 2:
            raise ProviderError("a Lambda alias routes to at most two versions at once", placement=placement)
        t = Target.of_details(d)
        with self._function_lock(t):
            alias = self._get_alias(t)
            pointed = str(alias["FunctionVersion"]) if alias else None
            primary = max(serving, key=lambda k: (serving[k], k == pointed, k == d.get("stable")))
            extra = {k: w for k, w in serving.items() if k != primary}
            self._put_alias(t, primary, extra, exists=alias is not None)
            for rev, info in revisions.items():
                info["weight"] = weights.get(rev, 0)
            d["revisions"] = revisions
            return placement_of(d)

    def set_replicas(self, placement: Placement, revision: str, replicas: int) -> Placement:
        """Provisioned concurrency of the alias when ``revision`` is what it points at; else recorded."""
        d = dict(placement.details)
        revisions = copy_revisions(d)
        if revision not in revisions:
            raise ProviderError(f"unknown revision {revision!r}", placement=placement)
        if replicas < 0:
            raise ProviderError("replicas must not be negative", placement=placement)
        t = Target.of_details(d)
        with self._function_lock(t):
            alias = self._get_alias(t)
            if alias is not None and str(alias["FunctionVersion"]) == revision:
                d["provisioned_concurrency"] = self._provision(t, replicas)
            else:
                d["provisioned_concurrency"] = (
                    f"recorded only: revision {revision} is not the alias's primary version "
                    "(Lambda splits the "
                    "alias's provisioned concurrency across the versions it routes to)"
                )
            revisions[revision]["replicas"] = replicas
            d["revisions"] = revisions
            return placement_of(d)

    def finalize(self, placement: Placement, revision: str) -> Placement:
        """The alias points at ``revision`` only; it becomes ``stable``. Old versions stay published."""
        return self._only(placement, revision)

    def rollback(self, placement: Placement, revision: str) -> Placement:
        """The alias points at ``revision`` (normally ``stable``) only, routing config cleared."""
        return self._only(placement, revision)

    # -- helpers -----------------------------------------------------------------------------------

    def _only(self, placement: Placement, revision: str) -> Placement:
        d = dict(placement.details)
        revisions = d.get("revisions") or {}
        if revision not in revisions:
            raise ProviderError(f"unknown revision {revision!r}", placement=placement)
        t = Target.of_details(d)
        with self._function_lock(t):
            alias = self._get_alias(t)
            self._put_alias(t, revision, None, exists=alias is not None)
            kept = dict(revisions[revision])
            kept["weight"] = 100
            d.update(revisions={revision: kept}, stable=revision, candidate=None)
            return placement_of(d)

    def _details(
        self,
        t: Target,
        release: Release,
        arn: str,
        revisions: dict[str, dict[str, Any]],
        *,
        stable: str,
        candidate: str | None,
    ) -> dict[str, Any]:
        """The placement details of a deployment (or update) that just published ``arn``."""
        function_arn = unqualified_arn(arn)
        return {
            "function_name": t.function,
            "function_arn": function_arn,
            "alias": t.alias,
            "alias_arn": function_arn + ":" + t.alias,
            "region": t.region,
            "url": self._function_url(t),
            "health_url": t.health_url,
            "health_path": release.health.path,
            "alarms": list(t.alarms),
            "revisions": revisions,
            "stable": stable,
            "candidate": candidate,
        }
