"""The AWS secret backends (Secrets Manager and SSM Parameter Store through Powertools Parameters)
against a moto server on 127.0.0.1, and the secrets API on each of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pilothouse.ports.secrets import SecretBackendError
from pilothouse.secrets.aws import SecretsManagerSecrets, SsmSecrets
from tests.support.moto_server import MotoServer

VALUE = "moto-s3cret-0b7e1d"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(params=["secretsmanager", "ssm"])
def backend(request, moto):
    moto.reset()
    if request.param == "secretsmanager":
        return SecretsManagerSecrets("pilothouse/", client=moto.client("secretsmanager"))
    return SsmSecrets("/pilothouse/secrets/", client=moto.client("ssm"))


def test_versions_read_back_by_reference(backend):
    """Given two versions of a secret, each reads back by its reference (the first one too, after
    the second is written), and the runtime reference names the backend and the version."""
    first = backend.put("db", 1, VALUE)
    second = backend.put("db", 2, VALUE + "-2")
    assert backend.get("db", 1, first) == VALUE
    assert backend.get("db", 2, second) == VALUE + "-2"
    runtime = backend.runtime_reference("db", 2, second)
    assert runtime is not None and runtime.startswith(f"{backend.name}:") and second in runtime
    backend.delete("db")
    with pytest.raises(SecretBackendError):
        backend.get("db", 2, second)
    backend.delete("db")  # deleting again is no error


def test_the_values_are_stored_in_the_aws_service(backend, moto):
    """Given a secret put through the backend, the AWS service itself answers its value."""
    ref = backend.put("api-token", 1, VALUE)
    if backend.name == "ssm":
        got = moto.client("ssm").get_parameter(Name="/pilothouse/secrets/api-token", WithDecryption=True)
        assert got["Parameter"]["Value"] == VALUE and str(got["Parameter"]["Version"]) == ref
    else:
        got = moto.client("secretsmanager").get_secret_value(SecretId="pilothouse/api-token")
        assert got["SecretString"] == VALUE and got["VersionId"] == ref


def test_the_api_on_an_aws_backend(backend, moto, monkeypatch, env, cloud, pool):
    """Given secret_backend set to the AWS service, the API creates and rotates there, and a
    Lambda revision gets Powertools Parameters references rather than values."""
    from pilothouse.embedded.gateway import LocalGateway
    from pilothouse.ports import Release
    from pilothouse.services import secrets
    from pilothouse.services.keys import ensure_key
    from pilothouse.settings import get_settings
    from pilothouse.wiring import Services, register_services, reset_services
    from tests.support.controlplane import ADMIN_KEY, Api

    monkeypatch.setenv("PILOTHOUSE_SECRET_BACKEND", backend.name)
    reset_services()
    services = Services(get_settings(), secrets=backend)
    register_services(services)
    ensure_key(services, ADMIN_KEY, name="admin")
    api = Api(LocalGateway(cloud.routes, pool), ADMIN_KEY)
    status, _, body = api.post("/v1/secrets", {"name": "db", "value": VALUE})
    assert status == 201 and body["backend"] == backend.name
    assert api.post("/v1/secrets/db/rotate", {"value": VALUE + "-2"})[2]["current_version"] == 2
    release = Release(component="fn", version="1", target={}, config={"pw": {"$secret": "db"}})
    bound = secrets.bind(services, release, "aws-lambda")
    assert bound.secret_env["PW"].startswith(f"{backend.name}:") and VALUE not in str(bound.secret_env)
    local = secrets.bind(services, release, "local")
    assert local.secret_env == {"PW": VALUE + "-2"}
    pinned = Release(component="fn", version="1", target={}, config={"pw": {"$secret": "db", "version": 1}})
    assert secrets.bind(services, pinned, "local").secret_env == {"PW": VALUE}
    reset_services()
