"""Serving a component's resolved config: an in-instance cache invalidated by version, ETags and
long polls (issue 13).

A read looks up the scope's head (the newest version number) at most once per
``settings.config_cache_seconds``; the version's record is read once per version and kept with
its answer and ETag, so warm reads do not touch the store. A write in this process wakes its long
polls at once (and drops what it cached); a write elsewhere is seen at the next head lookup (a
long poll looks every ``POLL_SECONDS``).

A process holds at most ``settings.config_max_watchers`` long polls at once: one more is answered
at once with 429 and ``Retry-After`` (not with the current version, which would send a client
straight back into a busy loop), so waiting watches cannot hold every function instance and every
gateway thread behind them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from pilothouse.domain.config_layers import env_layer, merge
from pilothouse.errors import TooManyRequests
from pilothouse.repositories.config import ConfigRepository, component_scope
from pilothouse.services.context import ServiceContext

#: how often a long poll looks for a version written by another process
POLL_SECONDS = 0.2
#: the longest a long poll holds its function (API Gateway ends a request at 30 s)
MAX_WAIT_SECONDS = 25.0


@dataclass(frozen=True)
class Served:
    version: int
    etag: str
    body: dict[str, Any]
    #: ``body`` as JSON, serialized as the HTTP runtime serializes answers (compact separators),
    #: once per version rather than once per read
    text: str = ""


_lock = threading.Lock()
_changed = threading.Condition(_lock)
#: (store, scope) → the served answer of its newest version
_answers: dict[tuple[int, str], Served] = {}
#: (store, scope) → (monotonic time of the lookup, the head's version)
_heads: dict[tuple[int, str], tuple[float, int]] = {}
#: (store, component) → (monotonic time of the lookup, the component's own environment)
_environments: dict[tuple[int, str], tuple[float, str]] = {}
#: the long polls this process holds now (at most ``settings.config_max_watchers``)
_watchers = 0
#: what an over-the-cap watcher is told to wait before trying again (seconds)
RETRY_AFTER_SECONDS = 2


def changed(services: ServiceContext, scope: str, version: int) -> None:
    """A version of ``scope`` was written in this process: forget the head, wake the long polls."""
    with _changed:
        _heads[(id(services.store), scope)] = (time.monotonic(), version)
        _changed.notify_all()


def _head_version(services: ServiceContext, key: tuple[int, str], fresh: bool, *, lost: bool = False) -> int:
    """The scope's newest version number, looked up at most once per ``config_cache_seconds``.

    Lookups race: one that read the store before another wrote its newer number must not put the
    older number back (readers would see the config go back a version), so a number is kept only
    if it is not older than the one cached, unless ``lost`` (the store no longer has that version).
    """
    now = time.monotonic()
    with _lock:
        seen = _heads.get(key)
    if seen is not None and not fresh and now - seen[0] < services.settings.config_cache_seconds:
        return seen[1]
    head = ConfigRepository(services.store).head(key[1])
    number = head.data["version"] if head else 0
    with _lock:
        seen = _heads.get(key)
        if lost or seen is None or number >= seen[1]:
            _heads[key] = (now, number)
        else:
            number = seen[1]
    return number


def _answer(services: ServiceContext, name: str, environment: str, data: dict[str, Any]) -> Served:
    config = data.get("resolved") or {}
    own = env_layer(services.settings.component_config_env, name)
    if own:
        config = merge(config, own)
    body = {
        "component": name,
        "environment": environment,
        "version": data["version"],
        "config": config,
        "sources": data.get("sources", {}),
        "includes": data.get("includes", []),
        "author": data.get("author"),
        "message": data.get("message"),
        "created_at": data.get("created_at"),
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:20]
    text = json.dumps(body, separators=(",", ":"))
    return Served(data["version"], f'"{data["version"]}-{digest}"', body, text)


def own_environment(services: ServiceContext, name: str) -> str:
    """The component's own environment (NotFound for an unknown component), looked up in the store
    at most once per ``settings.config_cache_seconds``, as the head is: a read without
    ``?environment=`` then costs no store read while both are fresh."""
    from pilothouse.services import components

    key = (id(services.store), name)
    now = time.monotonic()
    with _lock:
        seen = _environments.get(key)
    if seen is not None and now - seen[0] < services.settings.config_cache_seconds:
        return seen[1]
    environment = str(components.get(services, name).data["spec"]["environment"])
    with _lock:
        _environments[key] = (now, environment)
    return environment


def read(services: ServiceContext, name: str, environment: str, *, fresh: bool = False) -> Served:
    """The resolved config of the component in the environment (version 0: what its spec's config
    resolves to, before any version). NotFound for an unknown component."""
    scope = component_scope(name, environment)
    key = (id(services.store), scope)
    number = _head_version(services, key, fresh)
    with _lock:
        cached = _answers.get(key)
    if cached is not None and cached.version == number:
        return cached
    if number == 0:
        from pilothouse.services import config

        data = config.current(services, name, environment)
        data["created_at"] = None  # version 0 is the spec's: no cache, the spec may change
        return _answer(services, name, environment, data)
    item = ConfigRepository(services.store).version(scope, number)
    if item is None:  # the head moved past a version this store lost: read the head again
        number = _head_version(services, key, True, lost=True)
        item = ConfigRepository(services.store).version(scope, number)
        if item is None:
            raise LookupError(scope)
    served = _answer(services, name, environment, item.data)
    with _lock:
        _answers[key] = served
    return served


def wait_newer(
    services: ServiceContext, name: str, environment: str, after_version: int, wait_seconds: float
) -> Served:
    """The config once its version passes ``after_version``, or as it is when ``wait_seconds``
    (at most MAX_WAIT_SECONDS) have passed. TooManyRequests (at once) when this process already
    holds ``settings.config_max_watchers`` long polls."""
    global _watchers
    with _lock:
        if _watchers >= services.settings.config_max_watchers:
            raise TooManyRequests(
                "too many config watches are waiting here; try again shortly", RETRY_AFTER_SECONDS
            )
        _watchers += 1
    try:
        return _wait_newer(services, name, environment, after_version, wait_seconds)
    finally:
        with _lock:
            _watchers -= 1


def _wait_newer(
    services: ServiceContext, name: str, environment: str, after_version: int, wait_seconds: float
) -> Served:
    deadline = time.monotonic() + min(max(wait_seconds, 0.0), MAX_WAIT_SECONDS)
    key = (id(services.store), component_scope(name, environment))
    served = read(services, name, environment, fresh=True)
    while served.version <= after_version:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        with _changed:
            seen = _heads.get(key)
            if seen is None or seen[1] <= after_version:
                _changed.wait(min(POLL_SECONDS, left))
        served = read(services, name, environment, fresh=True)
    return served


def clear() -> None:
    """Forget everything cached (tests)."""
    with _lock:
        _answers.clear()
        _heads.clear()
        _environments.clear()
