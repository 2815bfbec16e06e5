"""The bodies of the config endpoints (issue 13)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pilothouse.domain.components import NAME_PATTERN, Environment

#: the largest imported document (characters)
MAX_CONTENT = 256 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Document(_Strict):
    """Values given as a map, or as a document to import (YAML, JSON or .env text)."""

    values: dict[str, Any] | None = None
    content: str | None = Field(default=None, max_length=MAX_CONTENT)
    format: Literal["yaml", "json", "env"] | None = None
    #: lay the values over the current ones instead of replacing them
    merge: bool = False
    message: str = Field(default="", max_length=500)
    #: the version this change was made from: 409 if another landed since
    base_version: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> _Document:
        if self.content is not None and self.values is not None:
            raise ValueError("give values or content (with its format), not both")
        if self.content is not None and self.format is None:
            raise ValueError("content needs its format: yaml, json or env")
        return self

    def parsed(self) -> dict[str, Any] | None:
        """The values, the document parsed if one was given (ValueError saying what is wrong)."""
        if self.content is None or self.format is None:
            return self.values
        from pilothouse.domain.config_layers import parse_document

        return parse_document(self.content, self.format)


class ComponentConfigChange(_Document):
    """A change of a component's config: its own overrides and/or the shared sets it includes."""

    environment: Environment | None = None
    includes: list[str] | None = Field(default=None, max_length=20)
    strategy: str | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _something(self) -> ComponentConfigChange:
        if self.values is None and self.content is None and self.includes is None:
            raise ValueError("give values, content or includes")
        for name in self.includes or []:
            import re

            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"includes: {name!r} is not a config set name")
        return self


class SharedConfigChange(_Document):
    """A new version of a shared config set or of an environment's overrides."""

    @model_validator(mode="after")
    def _something(self) -> SharedConfigChange:
        if self.values is None and self.content is None:
            raise ValueError("give values or content")
        return self


class ConfigRollback(_Strict):
    version: int = Field(ge=1)
    environment: Environment | None = None
    message: str | None = Field(default=None, max_length=500)
    strategy: str | dict[str, Any] | None = None
