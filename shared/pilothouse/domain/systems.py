"""Systems: components deployed, promoted and stopped together, in the order of their dependencies.

A system names its member components; the edges of its graph are each member's own spec
``dependencies`` plus the member's ``depends_on`` in the system. The graph is checked when the
system is created or changed: a dependency naming no registered component, or a cycle, is refused,
and a cycle's message spells its path.

    >>> waves({"api": ["db"], "web": ["api"], "db": [], "cache": []})
    [['cache', 'db'], ['api'], ['web']]
    >>> find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]})
    ['a', 'b', 'c', 'a']
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pilothouse.domain.components import NAME_PATTERN, VERSION_PATTERN

#: what a system's rollout does to each member
Action = Literal["deploy", "update", "promote", "stop"]
#: a rollout's status (snake_case, as a deployment's)
ROLLOUT_DONE = frozenset({"succeeded", "rolled_back", "failed", "aborted"})
#: health, worst last
HEALTH_ORDER = ("Healthy", "Unknown", "Degraded", "Unhealthy")
ENVIRONMENT_ORDER = ("development", "staging", "production")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SystemMember(Strict):
    """One component of a system, and how the system moves it."""

    name: str = Field(pattern=NAME_PATTERN)
    strategy: str | dict[str, Any] | None = Field(
        default=None, description="its own strategy in this system's rollouts (else its spec's)"
    )
    depends_on: list[str] = Field(
        default_factory=list, max_length=50, description="dependencies besides its spec's"
    )


class SystemSpec(Strict):
    """What a platform engineer registers as a system."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = Field(default="", max_length=1000)
    components: list[SystemMember] = Field(min_length=1, max_length=100)
    max_parallel: int = Field(default=2, ge=1, le=20, description="members changed at once")
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("components")
    @classmethod
    def _unique(cls, value: list[SystemMember]) -> list[SystemMember]:
        seen: set[str] = set()
        for member in value:
            if member.name in seen:
                raise ValueError(f"{member.name} is listed twice")
            seen.add(member.name)
        return value


class SystemChange(Strict):
    """A change of a system's membership or settings (``PUT``)."""

    description: str | None = Field(default=None, max_length=1000)
    components: list[SystemMember] | None = Field(default=None, min_length=1, max_length=100)
    max_parallel: int | None = Field(default=None, ge=1, le=20)
    labels: dict[str, str] | None = None


class SystemDeployRequest(Strict):
    """Deploy every member (its registered version unless ``versions`` names another)."""

    versions: dict[str, Annotated[str, Field(pattern=VERSION_PATTERN)]] = Field(default_factory=dict)
    max_parallel: int | None = Field(default=None, ge=1, le=20)

    @field_validator("versions")
    @classmethod
    def _versions(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for name, version in value.items():
            if not re.match(VERSION_PATTERN, version):
                raise ValueError(f"{version!r} (for {name}) is not a version")
        return value


class SystemUpdateRequest(SystemDeployRequest):
    """Update the named members to new versions (the others are left as they are)."""

    versions: dict[str, Annotated[str, Field(pattern=VERSION_PATTERN)]] = Field(min_length=1)


class SystemPromoteRequest(Strict):
    """Promote every member's running version to its twin in the ``to`` system (the next environment)."""

    to: str = Field(pattern=NAME_PATTERN)
    max_parallel: int | None = Field(default=None, ge=1, le=20)


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle of ``graph`` (node -> the nodes it depends on) as a path that returns to its start."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if dep not in colour:
                continue
            if colour[dep] == GREY:
                return stack[stack.index(dep) :] + [dep]
            if colour[dep] == WHITE:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE:
            found = visit(node)
            if found:
                return found
    return None


def waves(graph: dict[str, list[str]]) -> list[list[str]]:
    """The members in dependency order, as waves: each wave depends only on earlier ones."""
    remaining = {n: {d for d in deps if d in graph} for n, deps in graph.items()}
    out: list[list[str]] = []
    while remaining:
        ready = sorted(n for n, deps in remaining.items() if not deps)
        if not ready:
            raise ValueError(f"dependency cycle: {' → '.join(find_cycle(graph) or [])}")
        out.append(ready)
        for n in ready:
            del remaining[n]
        for deps in remaining.values():
            deps.difference_update(ready)
    return out


def worst_health(statuses: list[str | None]) -> str:
    """The worst of the members' health (a missing one counts as Unknown)."""
    if not statuses:
        return "Unknown"
    ranked = [s if s in HEALTH_ORDER else "Unknown" for s in statuses]
    return max(ranked, key=HEALTH_ORDER.index)


def base_name(name: str) -> str:
    """A component's name without its environment suffix: ``parser-staging`` -> ``parser``."""
    for env in ENVIRONMENT_ORDER[1:]:
        if name.endswith("-" + env):
            return name[: -len(env) - 1]
    return name
