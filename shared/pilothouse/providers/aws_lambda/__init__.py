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
* **Config and secrets.** Before publishing, the release's config and its secrets' Powertools
  Parameters references are written into ``$LATEST``'s environment (``PILOTHOUSE_CONFIG``,
  ``PILOTHOUSE_SECRET_REFS``), so each version carries its own; a config-only update is a new
  version. See :mod:`pilothouse.providers.aws_lambda.environment`.
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

Modules, one idea each: ``client`` (clients, boto3 imported lazily, error mapping), ``target``
(the function's coordinates and the recorded placement details), ``alias`` (versions, the alias and
its weights, provisioned concurrency), ``environment`` (each published version's config and secret
references, never values, and the IAM access they need), ``health``, ``metrics`` (CloudWatch
metrics and alarms) and ``provider`` (:class:`LambdaProvider`: the port's operations).
"""

from __future__ import annotations

from pilothouse.providers.aws_lambda.provider import LambdaProvider

__all__ = ["LambdaProvider"]
