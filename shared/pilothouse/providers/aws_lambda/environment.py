"""What a published version runs with: its release's config, and its secrets as references.

Lambda snapshots a function's configuration into each version it publishes, so the release's
config and secret references are written into ``$LATEST``'s environment just before
``PublishVersion`` (only when they differ from what it holds) and stay with that version:

``PILOTHOUSE_CONFIG``
    the release's config as JSON (secret references stay ``{"$secret": ...}``: no value).
``PILOTHOUSE_SECRET_REFS``
    JSON ``{"DB__PASSWORD": "ssm:/pilothouse/secrets/db:3", ...}``: for each secret the config
    references, the variable a local process would get it in, and where the function reads it at
    run time with Powertools Parameters (``ssm:<name>:<version>`` or
    ``secretsmanager:<id>#<version id>``); :func:`pilothouse.secrets.runtime.resolve` does that.

A secret's value is never written into the function's configuration. The function's execution
role needs read access to what it references: :func:`secret_access` names the actions and the
resource ARNs (recorded in the placement's details as ``secret_access``, for the role's policy).
Variables the function had besides these two are kept as they are.
"""

from __future__ import annotations

import json
from typing import Any

from pilothouse.providers.aws_lambda.alias import _Aliases
from pilothouse.providers.aws_lambda.target import Target
from pilothouse.providers.base import ProviderError, Release

CONFIG_VARIABLE = "PILOTHOUSE_CONFIG"
REFS_VARIABLE = "PILOTHOUSE_SECRET_REFS"
#: Lambda's limit on a function's environment variables, names and values together (bytes)
MAX_ENVIRONMENT_BYTES = 4096


def variables_for(current: dict[str, str], release: Release) -> dict[str, str]:
    """The function's variables with the release's config and secret references in place."""
    out = {k: v for k, v in current.items() if k not in (CONFIG_VARIABLE, REFS_VARIABLE)}
    out[CONFIG_VARIABLE] = json.dumps(release.config or {}, sort_keys=True, separators=(",", ":"))
    refs = dict(release.secret_env or {})
    for name, ref in refs.items():
        if not ref.startswith(("ssm:", "secretsmanager:")):  # a value would have been a leak
            raise ProviderError(f"the secret for {name} is not a reference a Lambda function can resolve")
    if refs:
        out[REFS_VARIABLE] = json.dumps(refs, sort_keys=True, separators=(",", ":"))
    size = sum(len(k.encode()) + len(v.encode()) for k, v in out.items())
    if size > MAX_ENVIRONMENT_BYTES:
        raise ProviderError(
            f"the function's environment would take {size} bytes with this config, over Lambda's "
            f"{MAX_ENVIRONMENT_BYTES}: keep large values in a secret or a parameter"
        )
    return out


def secret_access(function_arn: str, refs: dict[str, str]) -> dict[str, Any] | None:
    """The IAM statements the function's execution role needs to read its secret references
    (SecureString parameters encrypted with a customer managed key need ``kms:Decrypt`` on it too).
    None without references."""
    parts = function_arn.split(":")
    if len(parts) < 5 or not refs:
        return None
    partition, region, account = parts[1], parts[3], parts[4]
    statements: dict[str, set[str]] = {}
    for ref in refs.values():
        if ref.startswith("ssm:"):
            name = ref.removeprefix("ssm:").rsplit(":", 1)[0].lstrip("/")
            arn = f"arn:{partition}:ssm:{region}:{account}:parameter/{name}"
            statements.setdefault("ssm:GetParameter", set()).add(arn)
        else:
            secret_id = ref.removeprefix("secretsmanager:").split("#", 1)[0]
            arn = (
                secret_id
                if secret_id.startswith("arn:")
                else f"arn:{partition}:secretsmanager:{region}:{account}:secret:{secret_id}-??????"
            )
            statements.setdefault("secretsmanager:GetSecretValue", set()).add(arn)
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": [action], "Resource": sorted(resources)}
            for action, resources in sorted(statements.items())
        ],
    }


class _Environment(_Aliases):
    """Writes a release's environment into ``$LATEST`` (see the module's docstring)."""

    def _configure(self, t: Target, release: Release) -> dict[str, Any] | None:
        """Put the release's config and secret references into ``$LATEST``'s environment when they
        differ from what it holds; answers the IAM access the references need (or None)."""
        conf = self._configuration(t, None)
        current = dict(((conf.get("Environment") or {}).get("Variables")) or {})
        wanted = variables_for(current, release)
        if wanted != current:
            self._wait_config(
                t, None, lambda c: c.get("LastUpdateStatus") not in ("InProgress",), "an earlier update"
            )
            self._lambda(t, "UpdateFunctionConfiguration", Environment={"Variables": wanted})
        return secret_access(str(conf.get("FunctionArn") or ""), dict(release.secret_env or {}))
