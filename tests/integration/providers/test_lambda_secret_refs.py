"""The Lambda provider gives each published version its config and its secrets as references,
never as values (issue 13), against a real moto server on 127.0.0.1: Lambda, SSM, Secrets Manager."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
from tests.support.moto_server import REGION, MotoServer

from pilothouse.providers.aws_lambda import LambdaProvider
from pilothouse.providers.base import HealthCheck, ProviderError, Release
from pilothouse.secrets.aws import SecretsManagerSecrets, SsmSecrets
from pilothouse.secrets.runtime import config as runtime_config
from pilothouse.secrets.runtime import resolve

pytestmark = pytest.mark.slow  # a moto server subprocess and HTTP

DB_PASSWORD = "s3cr3t-db-password-value"
API_TOKEN = "tok-api-token-value-42"
CONFIG = {"port": 8080, "db": {"password": {"$secret": "db"}}, "api": {"token": {"$secret": "api"}}}


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("handler.py", "def handler(event, context):\n    return 1\n")
    return buf.getvalue()


@pytest.fixture
def lam(moto: MotoServer) -> Any:
    return moto.client("lambda")


@pytest.fixture
def function(moto: MotoServer, lam: Any) -> str:
    role = moto.client("iam").create_role(
        RoleName="fn-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    lam.create_function(
        FunctionName="orders-api",
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": _zip()},
        Environment={"Variables": {"OWN_SETTING": "kept"}},
    )
    return "orders-api"


@pytest.fixture
def refs(moto: MotoServer) -> dict[str, str]:
    """The references ``secrets.bind`` makes for Lambda: one secret in SSM, one in Secrets Manager."""
    ssm = SsmSecrets(client=moto.client("ssm"))
    manager = SecretsManagerSecrets(client=moto.client("secretsmanager"))
    ssm_ref = ssm.put("db", 1, DB_PASSWORD)
    sm_ref = manager.put("api", 1, API_TOKEN)
    return {
        "DB__PASSWORD": str(ssm.runtime_reference("db", 1, ssm_ref)),
        "API__TOKEN": str(manager.runtime_reference("api", 1, sm_ref)),
    }


@pytest.fixture
def provider(lam: Any, moto: MotoServer) -> LambdaProvider:
    return LambdaProvider(
        lambda_client=lam, cloudwatch_client=moto.client("cloudwatch"), poll_interval=0.01, timeout_seconds=10
    )


def _release(version: str, config: dict, secret_env: dict[str, str]) -> Release:
    return Release(
        component="orders",
        version=version,
        target={"function_name": "orders-api", "alias": "live"},
        config=config,
        health=HealthCheck(interval_seconds=0.01, timeout_seconds=3, unhealthy_threshold=2),
        secret_env=secret_env,
    )


def _variables(lam: Any, qualifier: str | None = None) -> dict[str, str]:
    kw = {"Qualifier": qualifier} if qualifier else {}
    conf = lam.get_function_configuration(FunctionName="orders-api", **kw)
    return dict((conf.get("Environment") or {}).get("Variables") or {})


def test_a_version_carries_its_config_and_secret_references_never_values(provider, lam, function, refs, moto):
    """Given a config referencing one SSM and one Secrets Manager secret, when the component is
    deployed to Lambda, then the published version's environment holds the config and the two
    references (its own variables kept), no value is in any of the function's configuration, the
    placement names the IAM access the role needs, and the function resolves the values at run
    time with Powertools Parameters."""
    placement = provider.deploy(_release("1.0.0", CONFIG, refs))
    rev = placement.details["stable"]
    env = _variables(lam, rev)
    assert env["OWN_SETTING"] == "kept"
    assert json.loads(env["PILOTHOUSE_CONFIG"]) == CONFIG
    assert json.loads(env["PILOTHOUSE_SECRET_REFS"]) == refs
    everything = json.dumps(
        [lam.get_function_configuration(FunctionName="orders-api", **q) for q in ({}, {"Qualifier": rev})]
    )
    assert DB_PASSWORD not in everything and API_TOKEN not in everything
    recorded = json.dumps(placement.to_dict())
    assert DB_PASSWORD not in recorded and API_TOKEN not in recorded

    access = placement.details["secret_access"]
    by_action = {s["Action"][0]: s["Resource"] for s in access["Statement"]}
    parameter = f"arn:aws:ssm:{REGION}:123456789012:parameter/pilothouse/secrets/db"
    assert by_action["ssm:GetParameter"] == [parameter]
    assert by_action["secretsmanager:GetSecretValue"] == [
        f"arn:aws:secretsmanager:{REGION}:123456789012:secret:pilothouse/api-??????"
    ]

    values = resolve(env, ssm_client=moto.client("ssm"), secretsmanager_client=moto.client("secretsmanager"))
    assert values == {"DB__PASSWORD": DB_PASSWORD, "API__TOKEN": API_TOKEN}
    assert runtime_config(env) == CONFIG


def test_a_rotated_secret_is_a_new_version_with_the_new_reference_and_the_old_one_keeps_its_own(
    provider, lam, function, refs, moto
):
    """Given a deployed version, when the SSM secret is rotated and a revision is prepared with its
    new reference (same code), then Lambda publishes a new version whose reference names the new
    parameter version, resolving to the new value, while the stable version still resolves the old."""
    placement = provider.deploy(_release("1.0.0", CONFIG, refs))
    ssm = SsmSecrets(client=moto.client("ssm"))
    new_ref = ssm.runtime_reference("db", 2, ssm.put("db", 2, "rotated-password-value"))
    rotated = {**refs, "DB__PASSWORD": str(new_ref)}
    placement = provider.prepare(placement, _release("1.0.0", CONFIG, rotated))
    stable, candidate = placement.details["stable"], placement.details["candidate"]
    assert stable != candidate
    clients = {"ssm_client": moto.client("ssm"), "secretsmanager_client": moto.client("secretsmanager")}
    assert resolve(_variables(lam, candidate), **clients)["DB__PASSWORD"] == "rotated-password-value"
    assert resolve(_variables(lam, stable), **clients)["DB__PASSWORD"] == DB_PASSWORD
    assert "rotated-password-value" not in json.dumps(_variables(lam))


def test_a_value_instead_of_a_reference_is_refused_before_anything_is_written(provider, lam, function):
    """Given a release whose secret variable holds a value (the built-in store cannot be read by a
    function), when it is deployed, then the deployment fails naming the variable, and neither the
    function's environment nor its versions changed."""
    with pytest.raises(ProviderError, match="DB__PASSWORD"):
        provider.deploy(_release("1.0.0", CONFIG, {"DB__PASSWORD": DB_PASSWORD}))
    assert _variables(lam) == {"OWN_SETTING": "kept"}
    versions = lam.list_versions_by_function(FunctionName="orders-api")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]


def test_an_environment_over_lambdas_limit_is_refused(provider, lam, function):
    """Given a config whose JSON would take the function's environment over 4 KB, when it is
    deployed, then the deployment fails saying so and nothing is written."""
    with pytest.raises(ProviderError, match="4096"):
        provider.deploy(_release("1.0.0", {"blob": "x" * 5000}, {}))
    assert _variables(lam) == {"OWN_SETTING": "kept"}
