"""AWS secret backends through Powertools Parameters: Secrets Manager and SSM Parameter Store.

Values are written with boto3 (Powertools Parameters reads only) and read back with Powertools'
providers, the same calls a deployed function makes at run time with :meth:`runtime_reference`.
Region and endpoint come from the environment (``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``: a moto
server in tests). boto3 loads only here, when one of these backends is configured.

* Secrets Manager: one secret per Pilothouse secret (``<prefix><name>``); each version is a
  ``PutSecretValue`` whose ``VersionId`` the metadata keeps. Older versions stay in Secrets
  Manager's own history until Pilothouse's retention drops them from its metadata.
* SSM: one ``SecureString`` parameter per secret; each version is an overwrite, whose parameter
  version the metadata keeps (``<name>:<n>`` reads it back; SSM keeps the last 100).
"""

from __future__ import annotations

from typing import Any

from pilothouse.ports.secrets import SecretBackendError
from pilothouse.sdklogs import quiet_aws_bodies


def _client(service: str) -> Any:
    import boto3

    return boto3.client(service)


class SecretsManagerSecrets:
    name = "secretsmanager"

    def __init__(self, prefix: str = "pilothouse/", client: Any = None) -> None:
        self.prefix = prefix
        self._client = client
        quiet_aws_bodies()  # botocore would log each value at DEBUG

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _client("secretsmanager")
        return self._client

    def _id(self, secret: str) -> str:
        return f"{self.prefix}{secret}"

    def put(self, secret: str, version: int, value: str) -> str:
        from botocore.exceptions import ClientError

        token = f"pilothouse-{secret}-{version}".ljust(32, "0")[:64]
        try:
            if version == 1:
                try:
                    answer = self.client.create_secret(
                        Name=self._id(secret), SecretString=value, ClientRequestToken=token
                    )
                    return str(answer["VersionId"])
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ResourceExistsException":
                        raise
            answer = self.client.put_secret_value(
                SecretId=self._id(secret), SecretString=value, ClientRequestToken=token
            )
            return str(answer["VersionId"])
        except ClientError as exc:
            raise SecretBackendError(
                f"Secrets Manager refused {secret!r}: {exc.response['Error']['Code']}"
            ) from None

    def get(self, secret: str, version: int, ref: str) -> str:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = SecretsProvider(boto3_client=self.client).get(self._id(secret), max_age=0, VersionId=ref)
        except GetParameterError:
            raise SecretBackendError(
                f"version {version} of secret {secret!r} is not in Secrets Manager"
            ) from None
        return value if isinstance(value, str) else str(value)

    def forget(self, secret: str, version: int, ref: str) -> None:
        """Secrets Manager ages its versions out itself (a version without a stage is removed)."""

    def delete(self, secret: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.delete_secret(SecretId=self._id(secret), ForceDeleteWithoutRecovery=True)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise SecretBackendError(f"Secrets Manager refused deleting {secret!r}") from None

    def runtime_reference(self, secret: str, version: int, ref: str) -> str | None:
        return f"secretsmanager:{self._id(secret)}#{ref}"


class SsmSecrets:
    name = "ssm"

    def __init__(self, prefix: str = "/pilothouse/secrets/", client: Any = None) -> None:
        self.prefix = prefix
        self._client = client
        quiet_aws_bodies()  # botocore would log each value at DEBUG

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = _client("ssm")
        return self._client

    def _name(self, secret: str) -> str:
        return f"{self.prefix}{secret}"

    def put(self, secret: str, version: int, value: str) -> str:
        from botocore.exceptions import ClientError

        try:
            answer = self.client.put_parameter(
                Name=self._name(secret), Value=value, Type="SecureString", Overwrite=True
            )
        except ClientError as exc:
            raise SecretBackendError(f"SSM refused {secret!r}: {exc.response['Error']['Code']}") from None
        return str(answer["Version"])

    def get(self, secret: str, version: int, ref: str) -> str:
        from aws_lambda_powertools.utilities.parameters import SSMProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = SSMProvider(boto3_client=self.client).get(
                f"{self._name(secret)}:{ref}", max_age=0, decrypt=True
            )
        except GetParameterError:
            raise SecretBackendError(f"version {version} of secret {secret!r} is not in SSM") from None
        return value if isinstance(value, str) else str(value)

    def forget(self, secret: str, version: int, ref: str) -> None:
        """SSM keeps a parameter's last 100 versions; older ones go by themselves."""

    def delete(self, secret: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.delete_parameter(Name=self._name(secret))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ParameterNotFound":
                raise SecretBackendError(f"SSM refused deleting {secret!r}") from None

    def runtime_reference(self, secret: str, version: int, ref: str) -> str | None:
        return f"ssm:{self._name(secret)}:{ref}"
