"""Config endpoints: a component's resolved config (watchable), its changes, versions, diffs and
rollbacks; shared config sets and environment overrides (issue 13)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response

from pilothouse.api import lazy
from pilothouse.api.component_reads import _resource
from pilothouse.domain.components import Environment
from pilothouse.domain.config_requests import ComponentConfigChange, ConfigRollback, SharedConfigChange
from pilothouse.errors import NotFound, ValidationFailed
from pilothouse.runtime.context import current
from pilothouse.runtime.http import json_response
from pilothouse.runtime.operations import operation

TAG = "config"


def _set_resource(params: dict[str, str]) -> str | None:
    return f"config-set:{params['set_name']}" if "set_name" in params else None


def _env_resource(params: dict[str, str]) -> str | None:
    return f"config-environment:{params['environment']}" if "environment" in params else None


def _values(change: Any) -> dict[str, Any] | None:
    try:
        return change.parsed()
    except ValueError as exc:
        raise ValidationFailed.field("content", str(exc)) from None


@operation(
    summary="A component's resolved config (ETag; If-None-Match gives 304; wait and after_version long-poll)",
    tag=TAG,
    resource=_resource,
    also=(304,),
    response="ResolvedConfig",
)
def get_component_config(
    name: str,
    environment: Annotated[Environment | None, lazy.Query(description="default: the component's own")] = None,
    wait: Annotated[int, lazy.Query(ge=0, le=30, description="seconds to wait for a newer version")] = 0,
    after_version: Annotated[int | None, lazy.Query(ge=0, description="the version the caller has")] = None,
    if_none_match: Annotated[str | None, lazy.Header(alias="if-none-match")] = None,
) -> Response[dict[str, Any] | None]:
    from pilothouse.services import config_watch

    services = current().services
    env = environment or config_watch.own_environment(services, name)
    if wait and after_version is not None:
        served = config_watch.wait_newer(services, name, env, after_version, wait)
    else:
        served = config_watch.read(services, name, env)
    headers = {"ETag": served.etag, "Cache-Control": "no-cache"}
    if if_none_match is not None and served.etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, body=None, headers=headers)
    if not services.settings.response_validation:
        # the JSON made once per version (Powertools sends a text body as it is); the same bytes
        # as serializing the value here (tests/integration/test_config_answer_bytes.py)
        text: Any = served.text  # the JSON of the value the annotation describes
        return Response(status_code=200, content_type="application/json", body=text, headers=headers)
    return json_response(served.body, 200, headers)  # a value, for the answer's validation


@operation(
    summary="Change a component's config (a new version, validated, rolled out as a deployment)",
    tag=TAG,
    resource=_resource,
    response="ConfigChangeAnswer",
)
def set_component_config(name: str, change: ComponentConfigChange) -> dict[str, Any]:
    from pilothouse.services import config

    ctx = current()
    return config.set_config(
        ctx.services,
        name,
        values=_values(change),
        includes=change.includes,
        environment=change.environment,
        merge=change.merge,
        message=change.message or ("import" if change.content is not None else "set"),
        actor=ctx.actor,
        request_id=ctx.request_id,
        base_version=change.base_version,
        strategy=change.strategy
        if isinstance(change.strategy, dict)
        else ({"type": change.strategy} if change.strategy else None),
        kind="import" if change.content is not None else "set",
    )


@operation(
    summary="A component's config versions, newest first",
    tag=TAG,
    resource=_resource,
    response="ConfigVersionPage",
)
def component_config_history(
    name: str,
    environment: Annotated[Environment | None, lazy.Query()] = None,
    limit: Annotated[int, lazy.Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, lazy.Query()] = None,
) -> dict[str, Any]:
    from pilothouse.services import config

    items, next_cursor = config.history(current().services, name, environment, limit=limit, cursor=cursor)
    return {"items": items, "next_cursor": next_cursor}


@operation(
    summary="What changed between two config versions of a component",
    tag=TAG,
    resource=_resource,
    response="ConfigDiffAnswer",
)
def component_config_diff(
    name: str,
    from_version: Annotated[int, lazy.Query(ge=1)],
    to_version: Annotated[int, lazy.Query(ge=1)],
    environment: Annotated[Environment | None, lazy.Query()] = None,
) -> dict[str, Any]:
    from pilothouse.services import config

    return config.diff(current().services, name, environment, from_version, to_version)


@operation(
    summary="Roll a component's config back to a version (a new version with its content)",
    tag=TAG,
    resource=_resource,
    response="ConfigChangeAnswer",
)
def rollback_component_config(name: str, request: ConfigRollback) -> dict[str, Any]:
    from pilothouse.services import config

    ctx = current()
    strategy = request.strategy
    return config.rollback(
        ctx.services,
        name,
        request.environment,
        request.version,
        message=request.message,
        actor=ctx.actor,
        request_id=ctx.request_id,
        strategy=strategy if isinstance(strategy, dict) else ({"type": strategy} if strategy else None),
    )


def _shared_put(kind: str, name: str, change: SharedConfigChange) -> dict[str, Any]:
    from pilothouse.services import config_shared

    ctx = current()
    values = _values(change)
    assert values is not None  # the model asks for values or content
    return config_shared.set_shared(
        ctx.services,
        kind,
        name,
        values=values,
        merge=change.merge,
        message=change.message or ("import" if change.content is not None else "set"),
        actor=ctx.actor,
        request_id=ctx.request_id,
        base_version=change.base_version,
    )


def _check_set_name(name: str) -> None:
    import re

    from pilothouse.domain.components import NAME_PATTERN

    if not re.match(NAME_PATTERN, name):
        raise NotFound(f"no config set is named {name[:100]!r}")


@operation(
    summary="Write a shared config set (checked against and propagated to its components)",
    tag=TAG,
    resource=_set_resource,
    response="SharedConfigChangeAnswer",
)
def put_config_set(set_name: str, change: SharedConfigChange) -> dict[str, Any]:
    _check_set_name(set_name)
    return _shared_put("set", set_name, change)


@operation(summary="A shared config set", tag=TAG, resource=_set_resource, response="ConfigVersion")
def get_config_set(set_name: str, version: Annotated[int | None, lazy.Query(ge=1)] = None) -> dict[str, Any]:
    from pilothouse.services import config_shared

    _check_set_name(set_name)
    return config_shared.get_shared(current().services, "set", set_name, version)


def _check_environment(environment: str) -> None:
    if environment not in ("development", "staging", "production"):
        raise NotFound(f"no environment named {environment[:100]!r}")


@operation(
    summary="Write an environment's config overrides (checked against and propagated to its components)",
    tag=TAG,
    resource=_env_resource,
    response="SharedConfigChangeAnswer",
)
def put_environment_config(environment: str, change: SharedConfigChange) -> dict[str, Any]:
    _check_environment(environment)
    return _shared_put("environment", environment, change)


@operation(
    summary="An environment's config overrides", tag=TAG, resource=_env_resource, response="ConfigVersion"
)
def get_environment_config(
    environment: str, version: Annotated[int | None, lazy.Query(ge=1)] = None
) -> dict[str, Any]:
    from pilothouse.services import config_shared

    _check_environment(environment)
    return config_shared.get_shared(current().services, "environment", environment, version)


OPERATIONS = [
    get_component_config,
    set_component_config,
    component_config_history,
    component_config_diff,
    rollback_component_config,
    put_config_set,
    get_config_set,
    put_environment_config,
    get_environment_config,
]
