"""Configuration and secrets (issue 13)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pilothouse.domain.answers.core import Answer


class ResolvedConfig(Answer):
    """A component's resolved config in an environment (secret references stay references)."""

    component: str
    environment: str
    version: int = Field(description="0 before the first version: what the spec's config resolves to")
    config: dict[str, Any]
    sources: dict[str, int] = Field(description="the version of each shared layer it was resolved from")
    includes: list[str]
    author: str | None
    message: str | None
    created_at: str | None


class ConfigVersion(Answer):
    """One immutable version of a config scope."""

    scope: str
    version: int
    kind: str = Field(description="set, import, rollback, propagated, reverted (a rolled-back deployment)")
    author: str | None = None
    message: str | None = None
    created_at: str | None = None
    values: dict[str, Any]
    includes: list[str]
    resolved: dict[str, Any] | None = None
    sources: dict[str, int] | None = None
    restored_from: int | None = None
    deployment_id: str | None = None


class ConfigVersionPage(Answer):
    items: list[ConfigVersion]
    next_cursor: str | None


class ConfigChangeAnswer(Answer):
    """A component's config change: its version and how it reaches the component."""

    changed: bool
    version: ConfigVersion
    deployment: dict[str, Any] | None = Field(
        description="{status: started, operation_id} for a Running component; kept_for_next_deploy"
    )


class ConfigDiffAnswer(Answer):
    from_: int = Field(alias="from")
    to: int
    changes: list[dict[str, Any]] = Field(description="path, op (added, removed, changed), from, to")
    overrides: list[dict[str, Any]]
    includes: dict[str, list[str]]


class SharedConfigChangeAnswer(Answer):
    """A shared set's or an environment's change, and what it did to each component it reaches."""

    changed: bool
    version: ConfigVersion
    components: list[dict[str, Any]]


class SecretVersion(Answer):
    version: int
    created_at: str
    created_by: str
    superseded_at: str | None = None
    keep_until: float | None = Field(default=None, description="epoch seconds: kept for rollback until then")


class SecretAnswer(Answer):
    """A secret's metadata: never its value."""

    name: str
    description: str
    backend: str
    current_version: int
    versions: list[SecretVersion]
    created_at: str
    created_by: str
    updated_at: str
    deployments: list[dict[str, Any]] | None = Field(default=None, description="what a rotation started")


class SecretPage(Answer):
    items: list[SecretAnswer]
    next_cursor: str | None
