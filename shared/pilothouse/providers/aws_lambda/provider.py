"""The AWS Lambda provider: deployments move an *alias* between published *versions* of a function.

The function and its code already exist (uploaded by the build: ``UpdateFunctionCode``); a
deployment publishes what ``$LATEST`` holds as a new immutable version (``PublishVersion`` with
``Description`` = the release version) and points the alias at it. Revision ids are Lambda version
numbers ("1", "2", ...). ``boto3`` is imported on first use only (cold starts of functions that
never touch Lambda do not pay for it).

``release.target`` keys (the first three are :class:`~pilothouse.domain.components.LambdaTarget`):

``function_name``
    name or ARN of the function.
``alias``
    the alias clients invoke (default ``live``).
``region``
    AWS region (default: the client's / the environment's).
``health_url`` (optional)
    an HTTP(S) URL answered 2xx when healthy; ``{revision}`` and ``{version}`` are substituted
    (the Lambda version number and the release version).
``alarms`` (optional)
    CloudWatch alarm names; :meth:`LambdaProvider.read_metrics` reports those in ``ALARM``.

How Lambda maps onto the port
-----------------------------
* **Traffic split.** An alias points at one version and may send a fraction of its invocations to
  *one* additional version: ``RoutingConfig={"AdditionalVersionWeights": {"<v>": w}}`` with ``w``
  in [0, 1]. :meth:`~LambdaProvider.shift` makes the revision with the larger share the alias's
  ``FunctionVersion`` (on a tie: the one it already points at) and gives the other ``weight/100``;
  100 % to one revision points the alias at it with the routing config cleared. At most two
  revisions may carry traffic at once.
* **Stopping revisions.** Versions are immutable and cost nothing idle, so finalize / rollback only
  take them out of the alias; the old versions stay published (delete them with a retention job if
  needed). :meth:`~LambdaProvider.stop` deletes the alias (an alias cannot point at "nothing");
  :meth:`~LambdaProvider.restore` re-creates it at the placement's stable version if it is gone.
* **Replicas.** Lambda scales by itself; ``replicas`` maps onto *provisioned concurrency* of the
  alias (``PutProvisionedConcurrencyConfig`` with ``Qualifier=alias``; 0 deletes it). Lambda splits
  an alias's provisioned concurrency across the versions it routes to, so
  :meth:`~LambdaProvider.set_replicas` applies it only for the revision the alias points at and
  records the number for the others. An endpoint that does not implement the API (moto answers a
  bare HTTP 404) makes it a recorded no-op: ``details["provisioned_concurrency"]`` says so.
* **Health.** ``health_url`` if given; otherwise the function URL of the alias plus
  ``release.health.path`` when the revision takes 100 % of the alias (a function URL cannot address
  one version); otherwise the version's ``State`` must be ``Active`` and a test invoke of the
  version (``InvocationType="DryRun"`` by default: checks parameters and permissions without running
  code; pass ``health_invocation="RequestResponse"`` to run it with an empty event) must not report
  a ``FunctionError``.
* **Metrics.** CloudWatch ``AWS/Lambda`` ``Invocations`` (Sum), ``Errors`` (Sum) and ``Duration``
  (``latency_statistic``, default ``p99``) with dimensions ``FunctionName``,
  ``Resource=<function>:<alias>`` and ``ExecutedVersion=<revision>`` (the per-version split Lambda
  publishes for invocations through an alias), one period covering the window. Lambda's metrics
  arrive about a minute late, so a short window right after a shift may read "no data".

Every AWS error becomes :class:`~pilothouse.providers.base.ProviderError` naming the operation, the
AWS error code and its message.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pilothouse.clock import Clock, SystemClock
from pilothouse.providers.base import HealthResult, Metrics, Placement, ProviderError, Release

__all__ = ["LambdaProvider"]

_UNSUPPORTED_CODES = {"404", "NotImplemented", "UnknownOperationException", "InvalidAction"}


class LambdaProvider:
    """A :class:`~pilothouse.providers.base.RevisionProvider` for AWS Lambda functions.

    ``lambda_client`` / ``cloudwatch_client`` (boto3 clients) are used as given when passed (tests,
    one region); otherwise clients are created per region with ``endpoint_url`` (default: boto3's
    own resolution, which honours ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_LAMBDA``) and
    ``region`` as the default region. ``timeout_seconds`` bounds waits for a version to become
    active; ``poll_interval`` is their period.
    """

    name = "aws-lambda"

    def __init__(
        self,
        *,
        lambda_client: Any = None,
        cloudwatch_client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        clock: Clock | None = None,
        timeout_seconds: float = 60.0,
        poll_interval: float = 1.0,
        latency_statistic: str = "p99",
        health_invocation: str = "DryRun",
        http_timeout: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._given = {"lambda": lambda_client, "cloudwatch": cloudwatch_client}
        self.region = region
        self.endpoint_url = endpoint_url
        self.clock: Clock = clock or SystemClock()
        self.timeout_seconds = timeout_seconds
        self.poll_interval = poll_interval
        self.latency_statistic = latency_statistic
        self.health_invocation = health_invocation
        self.http_timeout = http_timeout
        self._sleep = sleep
        self._clients: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()
        self._function_locks: dict[str, threading.RLock] = {}

    # -- the port --------------------------------------------------------------------------------

    def deploy(self, release: Release) -> Placement:
        """Publish a version, point the alias at it (100 %), check its health."""
        t = _Target.of(release)
        with self._function_lock(t):
            rev, arn = self._publish(t, release.version)
            alias = self._get_alias(t)
            self._put_alias(t, rev, None, exists=alias is not None)
            details = self._details(
                t, release, arn, {rev: _rev(release.version, 100)}, stable=rev, candidate=None
            )
            placement = self._placement(details)
            self._wait_healthy(placement, rev, release)
            return placement

    def update(self, current: Placement, release: Release) -> Placement:
        """Publish and point the alias at the new version at once; on failure point it back."""
        t = _Target.of(release)
        with self._function_lock(t):
            before = self._get_alias(t)
            rev, arn = self._publish(t, release.version, current=current)
            self._put_alias(t, rev, None, exists=before is not None)
            details = self._details(
                t,
                release,
                arn,
                {rev: _rev(release.version, 100, _replicas(current))},
                stable=rev,
                candidate=None,
            )
            placement = self._placement(details)
            try:
                self._wait_healthy(placement, rev, release)
            except ProviderError as exc:
                if before is not None:
                    self._restore_alias(t, before)
                raise ProviderError(exc.reason, logs=exc.logs, placement=current) from exc
            return placement

    def scale(self, current: Placement, release: Release, replicas: int) -> Placement:
        """Provisioned concurrency of the alias (0 removes it)."""
        d = dict(current.details)
        stable = str(d.get("stable"))
        return (
            self.set_replicas(self._placement(d), stable, replicas)
            if stable in (d.get("revisions") or {})
            else current
        )

    def stop(self, current: Placement) -> None:
        """Delete the alias (with its provisioned concurrency); the versions stay published."""
        t = _Target.of_details(current.details)
        with self._function_lock(t):
            try:
                self._call("lambda", t.region, "DeleteAlias", FunctionName=t.function, Name=t.alias)
            except ProviderError as exc:
                if "ResourceNotFoundException" not in exc.reason:
                    raise

    def restore(self, current: Placement, release: Release) -> Placement:
        """Read the alias back (the truth after a restart); re-create it at ``stable`` if missing."""
        d = dict(current.details)
        t = _Target.of_details(d) if d.get("function_name") else _Target.of(release)
        with self._function_lock(t):
            alias = self._get_alias(t)
            revisions = {k: dict(v) for k, v in (d.get("revisions") or {}).items()}
            if alias is None:
                stable = d.get("stable")
                if stable is None:
                    return self.deploy(release)
                self._put_alias(t, str(stable), None, exists=False)
                alias = self._get_alias(t) or {"FunctionVersion": str(stable)}
            weights = _alias_weights(alias)
            for rev in weights:
                if rev not in revisions:
                    conf = self._call(
                        "lambda", t.region, "GetFunctionConfiguration", FunctionName=t.function, Qualifier=rev
                    )
                    revisions[rev] = _rev(conf.get("Description") or release.version, 0)
            for rev, info in revisions.items():
                info["weight"] = weights.get(rev, 0)
            primary = str(alias["FunctionVersion"])
            d["revisions"] = revisions
            if d.get("stable") not in weights:
                d["stable"] = primary
            if d.get("candidate") is not None and d["candidate"] not in revisions:
                d["candidate"] = None
            d["url"] = self._function_url(t)
            return self._placement(d)

    def close(self) -> None:
        """Nothing runs here: Lambda keeps serving; only forget the clients."""
        with self._lock:
            self._clients.clear()

    # -- progressive delivery ----------------------------------------------------------------------

    def prepare(self, current: Placement | None, release: Release) -> Placement:
        """Publish the candidate version beside what the alias serves (0 % to it) and check it."""
        if current is None:
            placement = self.deploy(release)
            d = dict(placement.details)
            d["candidate"] = d["stable"]
            return self._placement(d)
        t = _Target.of(release)
        with self._function_lock(t):
            d = dict(current.details)
            stable = str(d["stable"])
            rev, _arn = self._publish(t, release.version, current=current)
            if rev in (d.get("revisions") or {}):
                raise ProviderError(
                    f"PublishVersion returned version {rev}, which already serves: the function's code and "
                    f"configuration did not change since (upload the code of {release.version} first)",
                    placement=current,
                )
            revisions = {stable: dict(d["revisions"][stable])}
            revisions[rev] = _rev(release.version, 0)
            d.update(revisions=revisions, candidate=rev, health_url=t.health_url, alarms=list(t.alarms))
            placement = self._placement(d)
            try:
                self._wait_healthy(placement, rev, release)
            except ProviderError as exc:
                raise ProviderError(exc.reason, logs=exc.logs, placement=current) from exc
            return placement

    def shift(self, placement: Placement, weights: dict[str, int]) -> Placement:
        """Route ``weights`` (percent) through the alias: primary version + one additional weight."""
        d = dict(placement.details)
        revisions = {k: dict(v) for k, v in (d.get("revisions") or {}).items()}
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
        t = _Target.of_details(d)
        with self._function_lock(t):
            alias = self._get_alias(t)
            pointed = str(alias["FunctionVersion"]) if alias else None
            primary = max(serving, key=lambda k: (serving[k], k == pointed, k == d.get("stable")))
            extra = {k: w for k, w in serving.items() if k != primary}
            self._put_alias(t, primary, extra, exists=alias is not None)
            for rev, info in revisions.items():
                info["weight"] = weights.get(rev, 0)
            d["revisions"] = revisions
            return self._placement(d)

    def set_replicas(self, placement: Placement, revision: str, replicas: int) -> Placement:
        """Provisioned concurrency of the alias when ``revision`` is what it points at; else recorded."""
        d = dict(placement.details)
        revisions = {k: dict(v) for k, v in (d.get("revisions") or {}).items()}
        if revision not in revisions:
            raise ProviderError(f"unknown revision {revision!r}", placement=placement)
        if replicas < 0:
            raise ProviderError("replicas must not be negative", placement=placement)
        t = _Target.of_details(d)
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
            return self._placement(d)

    def check_health(self, placement: Placement, revision: str) -> HealthResult:
        """One health probe of ``revision`` (see the module docstring for which one)."""
        d = placement.details
        revisions = d.get("revisions") or {}
        if revision not in revisions:
            return HealthResult(False, 0, 0, f"unknown revision {revision!r}")
        t = _Target.of_details(d)
        version = str(revisions[revision].get("version", ""))
        url = d.get("health_url")
        if url:
            return self._http_health(url.replace("{revision}", revision).replace("{version}", version))
        only = int(revisions[revision].get("weight", 0)) == 100
        if only and placement.url and d.get("health_path"):
            return self._http_health(placement.url.rstrip("/") + d["health_path"])
        return self._invoke_health(t, revision)

    def read_metrics(self, placement: Placement, revision: str, window_seconds: float) -> Metrics:
        """CloudWatch metrics of ``revision`` invoked through the alias, and the alarms in ALARM."""
        d = placement.details
        t = _Target.of_details(d)
        period = max(60, int(math.ceil(window_seconds / 60.0)) * 60)
        end = self.clock.time()
        dims = [
            {"Name": "FunctionName", "Value": t.bare_function},
            {"Name": "Resource", "Value": f"{t.bare_function}:{t.alias}"},
            {"Name": "ExecutedVersion", "Value": str(revision)},
        ]

        def query(qid: str, metric: str, stat: str) -> dict[str, Any]:
            return {
                "Id": qid,
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": dims},
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }

        queries = [
            query("invocations", "Invocations", "Sum"),
            query("errors", "Errors", "Sum"),
            query("latency", "Duration", self.latency_statistic),
        ]
        values: dict[str, list[float]] = {q["Id"]: [] for q in queries}
        kwargs: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": datetime.fromtimestamp(end - window_seconds, UTC),
            # one second of slack: timestamps are compared at second precision (moto truncates)
            "EndTime": datetime.fromtimestamp(math.floor(end) + 1, UTC),
        }
        while True:
            page = self._call("cloudwatch", t.region, "GetMetricData", **kwargs)
            for result in page.get("MetricDataResults", []):
                values.setdefault(result["Id"], []).extend(
                    float(v) for v in result.get("Values", []) if v is not None
                )
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        requests = int(round(sum(values["invocations"])))
        errors = int(round(sum(values["errors"])))
        latency = max(values["latency"]) if values["latency"] and requests else None
        return Metrics(
            requests=requests,
            errors=errors,
            error_rate=(errors / requests) if requests else None,
            p99_ms=latency,
            window_seconds=window_seconds,
            alarms_in_alarm=self._alarms_in_alarm(t, list(d.get("alarms") or [])),
        )

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
        t = _Target.of_details(d)
        with self._function_lock(t):
            alias = self._get_alias(t)
            self._put_alias(t, revision, None, exists=alias is not None)
            kept = dict(revisions[revision])
            kept["weight"] = 100
            d.update(revisions={revision: kept}, stable=revision, candidate=None)
            return self._placement(d)

    def _placement(self, d: dict[str, Any]) -> Placement:
        stable = d.get("stable")
        info = (d.get("revisions") or {}).get(stable) or {}
        return Placement(
            url=d.get("url"),
            version=str(info.get("version", "")),
            replicas=int(info.get("replicas", 1)),
            details=d,
        )

    def _details(
        self,
        t: _Target,
        release: Release,
        arn: str,
        revisions: dict[str, dict[str, Any]],
        *,
        stable: str,
        candidate: str | None,
    ) -> dict[str, Any]:
        return {
            "function_name": t.function,
            "function_arn": arn.rsplit(":", 1)[0] if arn.count(":") >= 7 else arn,
            "alias": t.alias,
            "alias_arn": (arn.rsplit(":", 1)[0] if arn.count(":") >= 7 else arn) + ":" + t.alias,
            "region": t.region,
            "url": self._function_url(t),
            "health_url": t.health_url,
            "health_path": release.health.path,
            "alarms": list(t.alarms),
            "revisions": revisions,
            "stable": stable,
            "candidate": candidate,
        }

    def _function_lock(self, t: _Target) -> threading.RLock:
        with self._lock:
            return self._function_locks.setdefault(f"{t.region}/{t.function}", threading.RLock())

    def _client(self, service: str, region: str | None) -> Any:
        given = self._given.get(service)
        if given is not None:
            return given
        key = (service, region or self.region)
        with self._lock:
            if key not in self._clients:
                import boto3  # imported here: cold starts that never deploy to Lambda do not pay for it

                kwargs: dict[str, Any] = {}
                if key[1]:
                    kwargs["region_name"] = key[1]
                if self.endpoint_url:
                    kwargs["endpoint_url"] = self.endpoint_url
                self._clients[key] = boto3.client(service, **kwargs)
            return self._clients[key]

    def _call(self, service: str, region: str | None, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One AWS call; ClientError and BotoCoreError become ProviderError(operation: code: message)."""
        client = self._client(service, region)
        method = getattr(client, _snake(operation))
        try:
            return method(**kwargs)
        except Exception as exc:  # botocore is imported lazily: recognise its errors by shape
            response = getattr(exc, "response", None)
            if isinstance(response, dict) and "Error" in response:
                code, message = _error_of(response)
                raise ProviderError(f"{operation}: {code}: {message}") from exc
            if type(exc).__module__.startswith("botocore"):
                raise ProviderError(f"{operation}: {type(exc).__name__}: {exc}") from exc
            raise

    def _get_alias(self, t: _Target) -> dict[str, Any] | None:
        try:
            return self._call("lambda", t.region, "GetAlias", FunctionName=t.function, Name=t.alias)
        except ProviderError as exc:
            message = exc.reason.split(": ", 2)[-1].lower()
            if "ResourceNotFoundException" in exc.reason and "function not found" not in message:
                return None  # the alias is missing (a missing function is an error)
            raise

    def _put_alias(self, t: _Target, primary: str, extra: dict[str, int] | None, *, exists: bool) -> None:
        routing = {"AdditionalVersionWeights": {k: round(w / 100.0, 4) for k, w in (extra or {}).items()}}
        if exists:
            self._call(
                "lambda",
                t.region,
                "UpdateAlias",
                FunctionName=t.function,
                Name=t.alias,
                FunctionVersion=primary,
                RoutingConfig=routing,
            )
        else:
            kwargs: dict[str, Any] = {"FunctionName": t.function, "Name": t.alias, "FunctionVersion": primary}
            if extra:
                kwargs["RoutingConfig"] = routing
            self._call("lambda", t.region, "CreateAlias", **kwargs)

    def _restore_alias(self, t: _Target, alias: dict[str, Any]) -> None:
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        extra = {k: int(round(float(w) * 100)) for k, w in weights.items()}
        self._put_alias(t, str(alias["FunctionVersion"]), extra, exists=True)

    def _publish(self, t: _Target, version: str, *, current: Placement | None = None) -> tuple[str, str]:
        """Wait until ``$LATEST`` is not being updated, publish it, wait until the version is active."""
        try:
            self._wait_config(
                t, None, lambda c: c.get("LastUpdateStatus") not in ("InProgress",), "code update"
            )
            published = self._call(
                "lambda", t.region, "PublishVersion", FunctionName=t.function, Description=version
            )
            rev = str(published["Version"])
            self._wait_config(t, rev, lambda c: c.get("State", "Active") == "Active", "version active")
        except ProviderError as exc:
            raise ProviderError(exc.reason, logs=exc.logs, placement=current) from exc
        return rev, str(published.get("FunctionArn", ""))

    def _wait_config(
        self, t: _Target, qualifier: str | None, ok: Callable[[dict[str, Any]], bool], what: str
    ) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        kwargs: dict[str, Any] = {"FunctionName": t.function}
        if qualifier:
            kwargs["Qualifier"] = qualifier
        while True:
            conf = self._call("lambda", t.region, "GetFunctionConfiguration", **kwargs)
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

    def _function_url(self, t: _Target) -> str | None:
        try:
            return self._call(
                "lambda", t.region, "GetFunctionUrlConfig", FunctionName=t.function, Qualifier=t.alias
            ).get("FunctionUrl")
        except ProviderError as exc:
            if "ResourceNotFoundException" in exc.reason:
                return None
            raise

    def _provision(self, t: _Target, replicas: int) -> str:
        try:
            if replicas > 0:
                self._call(
                    "lambda",
                    t.region,
                    "PutProvisionedConcurrencyConfig",
                    FunctionName=t.function,
                    Qualifier=t.alias,
                    ProvisionedConcurrentExecutions=replicas,
                )
                return f"{replicas} on alias {t.alias}"
            try:
                self._call(
                    "lambda",
                    t.region,
                    "DeleteProvisionedConcurrencyConfig",
                    FunctionName=t.function,
                    Qualifier=t.alias,
                )
            except ProviderError as exc:
                if "ProvisionedConcurrencyConfigNotFoundException" not in exc.reason:
                    raise
            return f"none on alias {t.alias}"
        except ProviderError as exc:
            code = exc.reason.split(": ", 2)[1] if exc.reason.count(": ") >= 2 else ""
            if code in _UNSUPPORTED_CODES:
                return f"not supported by this endpoint ({exc.reason}); replicas recorded only"
            raise

    def _wait_healthy(self, placement: Placement, revision: str, release: Release) -> None:
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
        host = urllib.parse.urlsplit(url).hostname or ""
        handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
        opener = urllib.request.build_opener(*handlers)
        try:
            with opener.open(
                urllib.request.Request(url, method="GET"), timeout=self.http_timeout
            ) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError) as exc:
            return HealthResult(False, 1, 1, f"GET {url}: {exc}")
        healthy = 200 <= status < 300
        return HealthResult(healthy, 1, 0 if healthy else 1, f"GET {url}: HTTP {status}")

    def _invoke_health(self, t: _Target, revision: str) -> HealthResult:
        try:
            conf = self._call(
                "lambda", t.region, "GetFunctionConfiguration", FunctionName=t.function, Qualifier=revision
            )
            state = conf.get("State", "Active")
            if state != "Active":
                return HealthResult(
                    False, 1, 1, f"version {revision} is {state}: {conf.get('StateReason', '')}".strip()
                )
            kwargs: dict[str, Any] = {
                "FunctionName": t.function,
                "Qualifier": revision,
                "InvocationType": self.health_invocation,
            }
            if self.health_invocation != "DryRun":
                kwargs["Payload"] = b"{}"
            answer = self._call("lambda", t.region, "Invoke", **kwargs)
        except ProviderError as exc:
            return HealthResult(False, 1, 1, exc.reason)
        status = int(answer.get("StatusCode", 0))
        error = answer.get("FunctionError")
        if error or not 200 <= status < 300:
            payload = answer.get("Payload")
            text = payload.read(500).decode("utf-8", "replace") if hasattr(payload, "read") else ""
            return HealthResult(
                False,
                1,
                1,
                f"Invoke {self.health_invocation} of version {revision}: "
                f"{status} {error or ''} {text}".strip(),
            )
        return HealthResult(True, 1, 0, f"Invoke {self.health_invocation} of version {revision}: {status}")

    def _alarms_in_alarm(self, t: _Target, names: list[str]) -> tuple[str, ...]:
        found: list[str] = []
        for start in range(0, len(names), 100):
            kwargs: dict[str, Any] = {
                "AlarmNames": names[start : start + 100],
                "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            }
            while True:
                page = self._call("cloudwatch", t.region, "DescribeAlarms", **kwargs)
                for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                    if alarm.get("StateValue") == "ALARM":
                        found.append(alarm["AlarmName"])
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return tuple(sorted(set(found)))


class _Target:
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
    def of(cls, release: Release) -> _Target:
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
    def of_details(cls, d: dict[str, Any]) -> _Target:
        if not d.get("function_name"):
            raise ProviderError("placement has no Lambda function (details.function_name)")
        return cls(
            d["function_name"],
            d.get("alias") or "live",
            d.get("region"),
            d.get("health_url"),
            list(d.get("alarms") or []),
        )


def _rev(version: str, weight: int, replicas: int = 1) -> dict[str, Any]:
    return {"version": version, "replicas": replicas, "weight": weight}


def _replicas(current: Placement | None) -> int:
    return current.replicas if current is not None else 1


def _alias_weights(alias: dict[str, Any]) -> dict[str, int]:
    """Percent per version of an alias: primary gets what the additional weights leave."""
    extra = {
        str(k): int(round(float(w) * 100))
        for k, w in ((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}).items()
    }
    extra = {k: w for k, w in extra.items() if w > 0}
    weights = {str(alias["FunctionVersion"]): 100 - sum(extra.values())}
    weights.update(extra)
    return weights


def _error_of(response: dict[str, Any]) -> tuple[str, str]:
    error = response.get("Error") or {}
    code = str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown"))
    message = str(error.get("Message") or "")
    if message.lstrip().startswith("<"):  # an HTML error page (an endpoint without this API)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", code)
        message = f"HTTP {status} (no such API on this endpoint)"
    return code, message


def _brief(conf: dict[str, Any]) -> dict[str, Any]:
    keys = ("FunctionName", "Version", "State", "StateReason", "LastUpdateStatus", "LastUpdateStatusReason")
    return {k: conf[k] for k in keys if k in conf}


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
