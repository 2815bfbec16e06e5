"""The Lambda objects the provider moves: published versions, the alias and its weights (primary
version plus at most one additional weight), the alias's function URL and its provisioned
concurrency.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from pilothouse.providers.aws_lambda.client import (
    UNSUPPORTED_CODES,
    _AwsCalls,
    carrying,
    error_code,
    is_not_found,
)
from pilothouse.providers.aws_lambda.target import Target
from pilothouse.providers.base import Placement, ProviderError

__all__ = ["alias_weights", "extra_weights"]


def extra_weights(alias: dict[str, Any]) -> dict[str, int]:
    """Percent per additional version of an alias (its ``RoutingConfig``), zeros included."""
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return {str(k): int(round(float(w) * 100)) for k, w in weights.items()}


def alias_weights(alias: dict[str, Any]) -> dict[str, int]:
    """Percent per version of an alias: primary gets what the additional weights leave."""
    extra = {k: w for k, w in extra_weights(alias).items() if w > 0}
    weights = {str(alias["FunctionVersion"]): 100 - sum(extra.values())}
    weights.update(extra)
    return weights


def _brief(conf: dict[str, Any]) -> dict[str, Any]:
    keys = ("FunctionName", "Version", "State", "StateReason", "LastUpdateStatus", "LastUpdateStatusReason")
    return {k: conf[k] for k in keys if k in conf}


class _Aliases(_AwsCalls):
    """Publishing versions and pointing the alias at them."""

    def _get_alias(self, t: Target) -> dict[str, Any] | None:
        try:
            return self._lambda(t, "GetAlias", Name=t.alias)
        except ProviderError as exc:
            message = exc.reason.split(": ", 2)[-1].lower()
            if is_not_found(exc) and "function not found" not in message:
                return None  # the alias is missing (a missing function is an error)
            raise

    def _put_alias(self, t: Target, primary: str, extra: dict[str, int] | None, *, exists: bool) -> None:
        routing = {"AdditionalVersionWeights": {k: round(w / 100.0, 4) for k, w in (extra or {}).items()}}
        if exists:
            self._lambda(t, "UpdateAlias", Name=t.alias, FunctionVersion=primary, RoutingConfig=routing)
        else:
            kwargs: dict[str, Any] = {"Name": t.alias, "FunctionVersion": primary}
            if extra:
                kwargs["RoutingConfig"] = routing
            self._lambda(t, "CreateAlias", **kwargs)

    def _publish(self, t: Target, version: str, *, current: Placement | None = None) -> tuple[str, str]:
        """Wait until ``$LATEST`` is not being updated, publish it, wait until the version is active."""
        with carrying(current):
            self._wait_config(
                t, None, lambda c: c.get("LastUpdateStatus") not in ("InProgress",), "code update"
            )
            published = self._lambda(t, "PublishVersion", Description=version)
            rev = str(published["Version"])
            self._wait_config(t, rev, lambda c: c.get("State", "Active") == "Active", "version active")
        return rev, str(published.get("FunctionArn", ""))

    def _wait_config(
        self, t: Target, qualifier: str | None, ok: Callable[[dict[str, Any]], bool], what: str
    ) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            conf = self._configuration(t, qualifier)
            if conf.get("State") == "Failed" or conf.get("LastUpdateStatus") == "Failed":
                reason = conf.get("StateReason") or conf.get("LastUpdateStatusReason") or "failed"
                raise ProviderError(
                    f"{t.function}:{qualifier or '$LATEST'} failed: {reason}", logs=[json.dumps(_brief(conf))]
                )
            if ok(conf):
                return
            if time.monotonic() >= deadline:
                raise ProviderError(
                    f"timed out after {self.timeout_seconds:g}s waiting for {what} of "
                    f"{t.function}:{qualifier or '$LATEST'}",
                    logs=[json.dumps(_brief(conf))],
                )
            self._sleep(self.poll_interval)

    def _function_url(self, t: Target) -> str | None:
        try:
            return self._lambda(t, "GetFunctionUrlConfig", Qualifier=t.alias).get("FunctionUrl")
        except ProviderError as exc:
            if is_not_found(exc):
                return None
            raise

    def _provision(self, t: Target, replicas: int) -> str:
        """Set the alias's provisioned concurrency (0 deletes it); returns what was done."""
        try:
            if replicas > 0:
                self._lambda(
                    t,
                    "PutProvisionedConcurrencyConfig",
                    Qualifier=t.alias,
                    ProvisionedConcurrentExecutions=replicas,
                )
                return f"{replicas} on alias {t.alias}"
            try:
                self._lambda(t, "DeleteProvisionedConcurrencyConfig", Qualifier=t.alias)
            except ProviderError as exc:
                if "ProvisionedConcurrencyConfigNotFoundException" not in exc.reason:
                    raise
            return f"none on alias {t.alias}"
        except ProviderError as exc:
            if error_code(exc) in UNSUPPORTED_CODES:
                return f"not supported by this endpoint ({exc.reason}); replicas recorded only"
            raise
