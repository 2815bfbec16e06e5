"""Helpers of the secrets tests: a provider that keeps each revision's secret environment, every
answer the API gives about a run, and every log line of it (where a leaked value would show)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

from tests.support.fakes import RevisionFake


class BindingFake(RevisionFake):
    """Keeps the secret environment each revision started with (what a local process gets)."""

    def __init__(self) -> None:
        super().__init__()
        self.secret_envs: list[dict[str, str]] = []

    def deploy(self, release):
        self.secret_envs.append(dict(release.secret_env))
        return super().deploy(release)

    def prepare(self, current, release):
        self.secret_envs.append(dict(release.secret_env))
        return super().prepare(current, release)


def put(api: Any, path: str, body: Any, **kw: Any) -> Any:
    return api.call("PUT", path, body, **kw)


def everything(api: Any, names: list[str]) -> list[Any]:
    """Every answer the API gives about the run: components, events, deployments, their events,
    config versions, secrets, the audit log."""
    seen = [api.get("/v1/audit", query="limit=500")]
    for name in names:
        seen += [
            api.get(f"/v1/components/{name}"),
            api.get(f"/v1/components/{name}/events", query="limit=500"),
            api.get(f"/v1/components/{name}/config"),
            api.get(f"/v1/components/{name}/config/versions", query="limit=500"),
        ]
        for dep in api.get("/v1/deployments", query=f"component={name}&limit=500")[2]["items"]:
            seen += [api.get(f"/v1/deployments/{dep['id']}"), api.get(f"/v1/deployments/{dep['id']}/events")]
    seen += [api.get("/v1/secrets"), api.get("/v1/secrets/db")]
    return seen


def log_lines() -> Iterator[io.StringIO]:
    """Every log record of the run, at DEBUG, from Pilothouse's functions and the libraries."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s %(args)s"))
    loggers = [logging.getLogger(n) for n in ("", "pilothouse", "aws_lambda_powertools", "botocore")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield buffer
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)
