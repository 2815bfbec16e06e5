"""How a local replica is launched: the command, environment and working directory of a release.

:func:`build_launch_spec` reads a component's local ``target`` (command, env, cwd, versions,
grace_seconds) into a :class:`LaunchSpec`; ``{port}`` and friends are filled in at spawn time.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pilothouse.providers.base import ProviderError
from pilothouse.providers.local.process import DEFAULT_GRACE_SECONDS


@dataclass(frozen=True)
class LaunchSpec:
    """How to start one replica of a release, with ``{port}`` still to fill in."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    grace_seconds: float


def _to_env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def build_launch_spec(
    component: str, version: str, target: dict[str, Any], config: dict[str, Any], *, host: str = "127.0.0.1"
) -> LaunchSpec:
    """Read ``target`` (command, env, cwd, versions, grace_seconds) into a :class:`LaunchSpec`.

    Raises :class:`ProviderError` when the target is not usable.
    """
    command = target.get("command")
    if isinstance(command, str):
        argv = shlex.split(command)
    elif isinstance(command, list | tuple) and all(isinstance(a, str | int | float) for a in command):
        argv = [str(a) for a in command]
    else:
        raise ProviderError("local target needs 'command': a list of strings or a command line")
    if not argv:
        raise ProviderError("local target 'command' is empty")

    versions = target.get("versions") or {}
    if not isinstance(versions, dict):
        raise ProviderError("local target 'versions' must map a version to {args, env}")
    per_version = versions.get(version) or {}
    extra_args = per_version.get("args") or []
    if isinstance(extra_args, str):
        extra_args = shlex.split(extra_args)
    argv += [str(a) for a in extra_args]

    env: dict[str, str] = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # so the log shows a Python app's output as it happens
    for source in (target.get("env") or {}, per_version.get("env") or {}):
        if not isinstance(source, dict):
            raise ProviderError("local target 'env' must be a mapping")
        env.update({str(k): _to_env_value(v) for k, v in source.items()})
    env["PILOTHOUSE_CONFIG"] = json.dumps(config or {}, sort_keys=True)
    env["PILOTHOUSE_VERSION"] = version
    env["PILOTHOUSE_COMPONENT"] = component

    cwd_value = target.get("cwd")
    cwd = Path(cwd_value).expanduser() if cwd_value else Path.cwd()
    if not cwd.is_absolute():
        cwd = Path.cwd() / cwd
    if not cwd.is_dir():
        raise ProviderError(f"local target 'cwd' is not a directory: {cwd}")

    try:
        grace = float(target.get("grace_seconds", DEFAULT_GRACE_SECONDS))
    except (TypeError, ValueError) as exc:
        raise ProviderError("local target 'grace_seconds' must be a number") from exc
    return LaunchSpec(argv=argv, env=env, cwd=str(cwd), grace_seconds=max(0.0, grace))


