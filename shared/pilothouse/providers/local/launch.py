"""How a local replica is launched: the command, environment and working directory of a release.

:func:`build_launch_spec` reads a component's local ``target`` (command, env, cwd, versions,
grace_seconds) into a :class:`LaunchSpec`; ``{port}`` and friends are filled in at spawn time.

A replica runs as the control plane's user, so what it may see is kept explicit:

* **Environment.** Nothing of the control plane's environment but ``PATH``, the locale (``LANG``,
  ``LANGUAGE``, ``LC_*``), ``TZ`` and the names ``PILOTHOUSE_REPLICA_ENV_PASSTHROUGH`` lists — no
  ``PILOTHOUSE_*`` setting (not even when listed), no admin key, no cloud credentials. Then a
  throwaway ``HOME`` and ``TMPDIR`` of the component's own under the data dir,
  ``PYTHONUNBUFFERED=1``, the target's ``env``, the version's ``env``, and last
  ``PILOTHOUSE_COMPONENT``/``VERSION``/``CONFIG`` (``PORT`` is added at spawn time).
* **Working directory.** ``cwd`` (relative to the project dir; the project dir when absent) must lie,
  after ``..`` and symlinks are resolved, under the project dir, the data dir or one of
  ``PILOTHOUSE_LOCAL_CWD_ROOTS``. Registration checks it too (:func:`confine_cwd`); this is the
  second check, at launch.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pilothouse.providers.base import ProviderError
from pilothouse.providers.local.process import DEFAULT_GRACE_SECONDS, safe_name

if TYPE_CHECKING:
    from pilothouse.settings import Settings

#: what a replica takes from the control plane's environment (besides names starting with LC_)
INHERITED = ("PATH", "LANG", "LANGUAGE", "TZ")


@dataclass(frozen=True)
class Sandbox:
    """Where replicas may work: the allowed roots of ``cwd``, the base of a relative one, and the
    directory under which each component gets its own HOME and TMPDIR."""

    roots: tuple[Path, ...]
    base: Path
    scratch: Path
    #: more variables to take from the control plane's environment (settings.replica_env_passthrough)
    passthrough: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> Sandbox:
        own = {f"PILOTHOUSE_{name.upper()}" for name in type(settings).model_fields}
        return cls(
            roots=settings.cwd_roots,
            base=Path(settings.project_dir).expanduser().resolve(),
            scratch=Path(settings.data_dir).expanduser().resolve() / "replicas",
            passthrough=tuple(n for n in settings.replica_env_passthrough if n not in own),
        )


def confine_cwd(value: str | None, roots: tuple[Path, ...], base: Path) -> Path:
    """The working directory ``value`` names (relative to ``base``; ``base`` when None), resolved
    (``..`` and symlinks); ValueError unless it lies under one of ``roots`` (resolved too)."""
    path = Path(value).expanduser() if value else base
    if not path.is_absolute():
        path = base / path
    resolved = path.resolve()
    for root in roots:
        root = root.resolve()
        if resolved == root or root in resolved.parents:
            return resolved
    allowed = ", ".join(str(r) for r in roots)
    raise ValueError(
        f"{value or str(base)!r} resolves to {resolved}, outside the allowed roots ({allowed}); "
        "PILOTHOUSE_LOCAL_CWD_ROOTS can allow more"
    )


def replica_environment(
    component: str, sandbox: Sandbox, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The base environment of a component's replicas: what is inherited (:data:`INHERITED`, LC_*,
    the sandbox's passthrough names), its own HOME and TMPDIR (created), PYTHONUNBUFFERED."""
    environ = os.environ if environ is None else environ
    passed = set(INHERITED) | set(sandbox.passthrough)
    env = {k: v for k, v in environ.items() if k in passed or k.startswith("LC_")}
    env.setdefault("PATH", os.defpath)
    scratch = sandbox.scratch / safe_name(component)
    for name, sub in (("HOME", "home"), ("TMPDIR", "tmp")):
        (scratch / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        env[name] = str(scratch / sub)
    env["PYTHONUNBUFFERED"] = "1"  # so the log shows a Python app's output as it happens
    return env


@dataclass(frozen=True)
class LaunchSpec:
    """How to start one replica of a release, with ``{port}`` still to fill in."""

    argv: list[str]
    env: dict[str, str] = field(repr=False)  # may carry resolved secrets: never in a repr
    cwd: str
    grace_seconds: float


def _to_env_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def build_launch_spec(
    component: str,
    version: str,
    target: dict[str, Any],
    config: dict[str, Any],
    *,
    host: str = "127.0.0.1",
    sandbox: Sandbox | None = None,
    secret_env: dict[str, str] | None = None,
) -> LaunchSpec:
    """Read ``target`` (command, env, cwd, versions, grace_seconds) into a :class:`LaunchSpec`.

    ``sandbox`` defaults to the one of this process's settings. Raises :class:`ProviderError` when
    the target is not usable or its cwd lies outside the allowed roots.
    """
    if sandbox is None:
        from pilothouse.settings import get_settings

        sandbox = Sandbox.from_settings(get_settings())
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

    try:
        cwd = confine_cwd(target.get("cwd"), sandbox.roots, sandbox.base)
    except ValueError as exc:
        raise ProviderError(f"local target 'cwd' refused: {exc}") from None
    if not cwd.is_dir():
        raise ProviderError(f"local target 'cwd' is not a directory: {cwd}")

    env = replica_environment(component, sandbox)
    for source in (target.get("env") or {}, per_version.get("env") or {}):
        if not isinstance(source, dict):
            raise ProviderError("local target 'env' must be a mapping")
        env.update({str(k): _to_env_value(v) for k, v in source.items()})
    env.update(secret_env or {})  # the config's secret references, resolved as the revision starts
    env["PILOTHOUSE_CONFIG"] = json.dumps(config or {}, sort_keys=True)
    env["PILOTHOUSE_VERSION"] = version
    env["PILOTHOUSE_COMPONENT"] = component

    try:
        grace = float(target.get("grace_seconds", DEFAULT_GRACE_SECONDS))
    except (TypeError, ValueError) as exc:
        raise ProviderError("local target 'grace_seconds' must be a number") from exc
    return LaunchSpec(argv=argv, env=env, cwd=str(cwd), grace_seconds=max(0.0, grace))
