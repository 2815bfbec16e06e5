"""For a deployed Lambda function: its config and its secrets, read at run time.

The Lambda provider writes a version's config (``PILOTHOUSE_CONFIG``) and, for each secret the
config references, where it lives (``PILOTHOUSE_SECRET_REFS``) into the version's environment —
never a value (:mod:`pilothouse.providers.aws_lambda.environment`). A function reads them with
Powertools Parameters, which caches each value for ``max_age`` seconds across warm invocations::

    from pilothouse.secrets.runtime import config, resolve

    CONFIG = config()                 # the version's config (secret references left as they are)
    def handler(event, context):
        secrets = resolve()           # {"DB__PASSWORD": "...", ...}, cached for 5 minutes

The function's execution role needs ``ssm:GetParameter`` / ``secretsmanager:GetSecretValue`` on
the references (the deployment's placement names them as ``secret_access``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

CONFIG_VARIABLE = "PILOTHOUSE_CONFIG"
REFS_VARIABLE = "PILOTHOUSE_SECRET_REFS"


def config(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The config the function's version was deployed with."""
    env = os.environ if environ is None else environ
    return dict(json.loads(env.get(CONFIG_VARIABLE) or "{}"))


def resolve(
    environ: Mapping[str, str] | None = None,
    *,
    max_age: int = 300,
    ssm_client: Any = None,
    secretsmanager_client: Any = None,
) -> dict[str, str]:
    """Each referenced secret's value by the variable name a local process would get it in.

    ``ssm:<name>:<version>`` is read with Powertools' SSM provider (decrypted) and
    ``secretsmanager:<id>#<version id>`` with its Secrets Manager provider, each pinned to the
    version the deployment named. Clients may be given (tests); otherwise Powertools makes them."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    env = os.environ if environ is None else environ
    refs: dict[str, str] = json.loads(env.get(REFS_VARIABLE) or "{}")
    ssm: SSMProvider | None = None
    manager: SecretsProvider | None = None
    out: dict[str, str] = {}
    for variable, ref in refs.items():
        if ref.startswith("ssm:"):
            ssm = ssm or SSMProvider(boto3_client=ssm_client)
            value = ssm.get(ref.removeprefix("ssm:"), max_age=max_age, decrypt=True)
        elif ref.startswith("secretsmanager:"):
            secret_id, _, version_id = ref.removeprefix("secretsmanager:").partition("#")
            manager = manager or SecretsProvider(boto3_client=secretsmanager_client)
            if version_id:
                value = manager.get(secret_id, max_age=max_age, VersionId=version_id)
            else:
                value = manager.get(secret_id, max_age=max_age)
        else:
            raise ValueError(f"{variable}: not a secret reference this function can resolve")
        out[variable] = value if isinstance(value, str) else str(value)
    return out
