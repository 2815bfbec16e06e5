"""Component specs and command requests (pydantic models, validation only: no I/O)."""

from __future__ import annotations

import marshal
import re
import shlex
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from pilothouse.domain.config_schema import check_config

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"

Provider = Literal["local", "aws-lambda", "kubernetes", "azure-functions", "cloud-run"]
Environment = Literal["development", "staging", "production"]


#: control characters, whitespace and backslashes: never in a URL or path a spec names
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_path(value: str) -> str:
    """An HTTP request path: starts with ``/``, printable ASCII without spaces (ValueError if not)."""
    if not value.startswith("/"):
        raise ValueError("must start with /")
    bad = _UNSAFE.search(value) or re.search(r"[^\x21-\x7e]", value)
    if bad:
        raise ValueError(
            f"must not contain {bad.group()!r} (control characters, whitespace, backslashes "
            "and non-ASCII characters must be percent-encoded)"
        )
    return value


def check_http_url(value: str) -> str:
    """The shape of a URL a spec names: http(s), a host, no userinfo, no control characters,
    whitespace or backslashes anywhere (ValueError if not). Which hosts and addresses it may reach
    is the outbound guard's question (pilothouse.net.outbound), asked by the services."""
    bad = _UNSAFE.search(value)
    if bad:
        raise ValueError(f"must not contain {bad.group()!r} (control characters, whitespace, backslashes)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValueError(f"is not a URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an http or https URL")
    if "@" in parts.netloc:
        raise ValueError("must not carry credentials (user@host)")
    if not parts.hostname:
        raise ValueError("must name a host")
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthCheckSpec(Strict):
    """An HTTP path answered 2xx when healthy (or a provider's own check when ``path`` is None)."""

    path: str | None = Field(default="/health", max_length=1024)
    interval_seconds: float = Field(default=10.0, gt=0, le=3600)
    timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    healthy_threshold: int = Field(default=1, ge=1, le=10)
    unhealthy_threshold: int = Field(default=3, ge=1, le=10)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else check_path(value)


class MetricsScrapeSpec(Strict):
    """Where a component serves Prometheus text metrics, scraped on every collection sweep."""

    path: str = Field(default="/metrics", max_length=1024)
    timeout_seconds: float = Field(default=5.0, gt=0, le=30)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_path(value)


class ScalingPolicy(Strict):
    min: int = Field(default=1, ge=0, le=1000)
    max: int = Field(default=10, ge=1, le=1000)
    replicas: int | None = Field(
        default=None, ge=0, le=1000, description="replicas at first deploy (default min)"
    )
    target_metric: str | None = Field(default=None, description="e.g. cpu:70 or requests_per_replica:100")

    @model_validator(mode="after")
    def _bounds(self) -> ScalingPolicy:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.replicas is not None and not self.min <= self.replicas <= self.max:
            raise ValueError("replicas must lie between min and max")
        return self

    @property
    def initial(self) -> int:
        return self.replicas if self.replicas is not None else max(self.min, 1)


def check_argv(value: list[str]) -> list[str]:
    """Command arguments a process can be started with: no NUL characters (ValueError if any)."""
    if any("\x00" in part for part in value):
        raise ValueError("must not contain NUL characters")
    return value


def check_env(value: dict[str, str]) -> dict[str, str]:
    """Environment entries a process can be started with: names non-empty without ``=`` or NUL,
    values without NUL (ValueError if not)."""
    for key, item in value.items():
        if not key or "=" in key or "\x00" in key or "\x00" in item:
            raise ValueError(f"{key!r}: names must be non-empty without '=' or NUL; values without NUL")
    return value


class VersionOverride(Strict):
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)

    _args = field_validator("args")(classmethod(lambda cls, v: check_argv(v)))
    _env = field_validator("env")(classmethod(lambda cls, v: check_env(v)))


class LocalTarget(Strict):
    """A process on this machine: ``command`` with ``{port}`` (and ``{python}``) placeholders."""

    command: list[str] = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    versions: dict[str, VersionOverride] = Field(default_factory=dict)
    port: int | None = Field(default=None, ge=1024, le=65535)
    grace_seconds: float = Field(default=5.0, ge=0, le=300)

    @field_validator("command", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("cwd")
    @classmethod
    def _cwd(cls, value: str | None) -> str | None:
        if value is not None and _CONTROL.search(value):
            raise ValueError("must not contain control characters")
        return value

    _command = field_validator("command")(classmethod(lambda cls, v: check_argv(v)))
    _env = field_validator("env")(classmethod(lambda cls, v: check_env(v)))

    @field_validator("versions")
    @classmethod
    def _version_keys(cls, value: dict[str, VersionOverride]) -> dict[str, VersionOverride]:
        for key in value:
            if not re.match(VERSION_PATTERN, key):
                raise ValueError(f"{key!r} is not a version (letters, digits and . _ + -)")
        return value

    @model_validator(mode="after")
    def _port_placeholder(self) -> LocalTarget:
        if not any("{port}" in part for part in self.command):
            raise ValueError("command must contain the {port} placeholder")
        return self


class LambdaTarget(Strict):
    function_name: str = Field(min_length=1, max_length=140)
    alias: str = "live"
    region: str | None = None
    health_url: str | None = Field(
        default=None, max_length=2048, description="GET for health; may contain {revision} and {version}"
    )
    alarms: list[str] = Field(default_factory=list, description="CloudWatch alarms that fail an analysis")

    @field_validator("health_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)


class KubernetesTarget(Strict):
    namespace: str = Field(min_length=1)
    deployment: str = Field(min_length=1)
    container: str | None = None
    image: str | None = None


class AzureFunctionsTarget(Strict):
    app_name: str = Field(min_length=1)
    resource_group: str = Field(min_length=1)
    slot: str | None = None


class CloudRunTarget(Strict):
    service: str = Field(min_length=1)
    region: str = Field(min_length=1)
    project: str | None = None


TARGETS: dict[str, type[Strict]] = {
    "local": LocalTarget,
    "aws-lambda": LambdaTarget,
    "kubernetes": KubernetesTarget,
    "azure-functions": AzureFunctionsTarget,
    "cloud-run": CloudRunTarget,
}


#: targets kept validated (by provider and value), and the largest value kept (bytes of its key)
TARGET_CACHE_SIZE = 256
TARGET_MAX_BYTES = 4096


@lru_cache(maxsize=TARGET_CACHE_SIZE)
def _valid_target(provider: str, key: bytes) -> bytes | None:
    """The target marshalled as ``key`` as ``provider``'s model validates and dumps it (None left
    out), marshalled; None when that model refuses it (the spec's validator then names why).

    A target's validation depends on its value alone, and the same few targets come back on every
    register, update and promotion of a component: the value read back from ``key`` has the
    caller's types exactly (``marshal`` format 2), and the answer is read back from its bytes, a
    new copy for every spec."""
    model = TARGETS[provider]
    try:
        dumped = model.__pydantic_serializer__.to_python(
            model.__pydantic_validator__.validate_python(marshal.loads(key)), exclude_none=True
        )
        return marshal.dumps(dumped, 2)
    except (ValidationError, ValueError):
        return None


class DeploymentPolicy(Strict):
    """How this component is deployed unless a request says otherwise."""

    strategy: str | dict[str, Any] | None = Field(
        default=None, description="a preset (Canary10Percent5Minutes...), a type, or a strategy object"
    )
    separate_approver: bool = Field(
        default=False, description="the approver must not be who started the deploy"
    )


class ComponentSpec(Strict):
    """What a platform engineer registers."""

    name: str = Field(pattern=NAME_PATTERN, description="lower-case letters, digits and dashes")
    provider: Provider
    environment: Environment = "development"
    version: str = Field(pattern=VERSION_PATTERN)
    description: str = Field(default="", max_length=1000)
    target: dict[str, Any]
    health_check: HealthCheckSpec = Field(default_factory=HealthCheckSpec)
    scaling: ScalingPolicy = Field(default_factory=ScalingPolicy)
    dependencies: list[str] = Field(default_factory=list, max_length=50)
    config_schema: dict[str, Any] | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    deployment: DeploymentPolicy = Field(default_factory=DeploymentPolicy)
    metrics: MetricsScrapeSpec | None = Field(default=None, description="scrape Prometheus text metrics")

    @field_validator("target")
    @classmethod
    def _check_target(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        provider = info.data.get("provider")
        if provider is None:
            return value
        try:
            key = marshal.dumps(value, 2)
        except ValueError:  # a value marshal does not carry (a subclass ...): validated as it is
            key = None
        if key is not None and len(key) <= TARGET_MAX_BYTES:
            found = _valid_target(provider, key)
            if found is not None:
                return marshal.loads(found)
        model = TARGETS[provider]
        try:
            # model.model_validate(value).model_dump(exclude_none=True), through the model's own
            # compiled validator and serializer: the same calls without their Python wrappers
            return model.__pydantic_serializer__.to_python(
                model.__pydantic_validator__.validate_python(value), exclude_none=True
            )
        except ValidationError as exc:  # re-raised with each error's place inside the target
            raise ValidationError.from_exception_data(
                "target",
                [
                    InitErrorDetails(
                        type=PydanticCustomError(
                            e["type"],
                            "{msg} (for provider {provider})",
                            {"msg": e["msg"].removeprefix("Value error, "), "provider": provider},
                        ),
                        loc=tuple(e["loc"]),
                        input=e.get("input"),
                    )
                    for e in exc.errors()
                ],
            ) from None

    @field_validator("config")
    @classmethod
    def _check_config(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        check_config(info.data.get("config_schema"), value)
        return value

    @field_validator("dependencies")
    @classmethod
    def _no_self_dependency(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("name") in value:
            raise ValueError("a component cannot depend on itself")
        return value

    def __repr__(self) -> str:
        """Who the spec is, not its whole content: its config and target (environment variables
        included) stay out of every log line that formats it, and formatting it costs nothing
        (Powertools formats a route's arguments into a debug line on every call, debug on or off;
        the full repr took a twentieth of a warm register)."""
        return (
            f"ComponentSpec(name={self.name!r}, provider={self.provider!r}, "
            f"environment={self.environment!r}, version={self.version!r})"
        )


class DeployRequest(Strict):
    """Deploy a registered component (its registered version unless another is named)."""

    version: str | None = Field(default=None, pattern=VERSION_PATTERN)
    strategy: str | dict[str, Any] | None = None


class UpdateRequest(Strict):
    version: str | None = Field(default=None, pattern=VERSION_PATTERN)
    config: dict[str, Any] | None = None
    strategy: str | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _something(self) -> UpdateRequest:
        if self.version is None and self.config is None:
            raise ValueError("give a new version, a new config, or both")
        return self


class ScaleRequest(Strict):
    replicas: int = Field(ge=0, le=1000)


class EmptyRequest(Strict):
    """A command without parameters (stop)."""


class RetryRequest(Strict):
    strategy: str | dict[str, Any] | None = None
