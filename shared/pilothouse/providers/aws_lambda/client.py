"""AWS clients of the Lambda provider and how their errors are mapped.

Clients are the ones given (tests, one region) or made per region on first use -- ``boto3`` is
imported only then, so cold starts of functions that never touch Lambda do not pay for it. Every
AWS error becomes :class:`~pilothouse.providers.base.ProviderError` reading
``"<Operation>: <code>: <message>"``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pilothouse.clock import Clock, SystemClock
from pilothouse.providers.aws_lambda.target import Target
from pilothouse.providers.base import Placement, ProviderError

__all__ = ["UNSUPPORTED_CODES", "carrying", "error_code", "error_of", "is_not_found", "snake"]

# error codes of an endpoint that does not implement an API (moto answers a bare HTTP 404)
UNSUPPORTED_CODES = {"404", "NotImplemented", "UnknownOperationException", "InvalidAction"}


def snake(operation: str) -> str:
    """The boto3 method name of an AWS operation: ``GetAlias`` -> ``get_alias``."""
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i:
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def error_of(response: dict[str, Any]) -> tuple[str, str]:
    """``(code, message)`` of a botocore error response; an HTML page (an endpoint without the
    API) reads as its HTTP status."""
    error = response.get("Error") or {}
    code = str(error.get("Code") or response.get("ResponseMetadata", {}).get("HTTPStatusCode", "Unknown"))
    message = str(error.get("Message") or "")
    if message.lstrip().startswith("<"):  # an HTML error page (an endpoint without this API)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", code)
        message = f"HTTP {status} (no such API on this endpoint)"
    return code, message


def error_code(exc: ProviderError) -> str:
    """The AWS error code in a mapped error's reason ("" when it names none)."""
    return exc.reason.split(": ", 2)[1] if exc.reason.count(": ") >= 2 else ""


def is_not_found(exc: ProviderError) -> bool:
    """Whether a mapped error says the resource does not exist."""
    return "ResourceNotFoundException" in exc.reason


@contextmanager
def carrying(placement: Placement | None) -> Iterator[None]:
    """A ProviderError raised inside comes out carrying ``placement`` (what still serves)."""
    try:
        yield
    except ProviderError as exc:
        raise ProviderError(exc.reason, logs=exc.logs, placement=placement) from exc


class _AwsCalls:
    """Settings of :class:`LambdaProvider`, its clients, and one AWS call at a time."""

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

    def close(self) -> None:
        """Nothing runs here: Lambda keeps serving; only forget the clients."""
        with self._lock:
            self._clients.clear()

    def _function_lock(self, t: Target) -> threading.RLock:
        """The lock serialising this object's operations on one function."""
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
        method = getattr(client, snake(operation))
        try:
            return method(**kwargs)
        except Exception as exc:  # botocore is imported lazily: recognise its errors by shape
            response = getattr(exc, "response", None)
            if isinstance(response, dict) and "Error" in response:
                code, message = error_of(response)
                raise ProviderError(f"{operation}: {code}: {message}") from exc
            if type(exc).__module__.startswith("botocore"):
                raise ProviderError(f"{operation}: {type(exc).__name__}: {exc}") from exc
            raise

    def _pages(
        self, service: str, region: str | None, operation: str, **kwargs: Any
    ) -> Iterator[dict[str, Any]]:
        """Every page of a paginated call (following ``NextToken``)."""
        while True:
            page = self._call(service, region, operation, **kwargs)
            yield page
            token = page.get("NextToken")
            if not token:
                return
            kwargs["NextToken"] = token

    def _lambda(self, t: Target, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One Lambda call about ``t``'s function (in its region, ``FunctionName`` filled in)."""
        return self._call("lambda", t.region, operation, FunctionName=t.function, **kwargs)

    def _configuration(self, t: Target, qualifier: str | None) -> dict[str, Any]:
        """``GetFunctionConfiguration`` of the function (``$LATEST`` without a qualifier)."""
        return self._lambda(t, "GetFunctionConfiguration", **({"Qualifier": qualifier} if qualifier else {}))
