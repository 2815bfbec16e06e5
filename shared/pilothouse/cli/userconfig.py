"""The user's CLI config: named contexts (an API URL and key each) and the current one.

Kept in ``$XDG_CONFIG_HOME/pilothouse/config.yaml`` (``~/.config/pilothouse/config.yaml`` without
it), the directory 0700 and the file 0600 as it holds API keys. A change is a read-modify-write under
an exclusive lock on a sibling lock file, and the new text replaces the old atomically (a temporary
file, fsync, rename), so two commands at once neither lose a context nor leave a torn file.

    current-context: local
    contexts:
      local: {url: http://127.0.0.1:8080, api-key: ph_…}
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pilothouse.cli.files import InputError
from pilothouse.cli.prog import program

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
KEY_SHAPE = re.compile(r"^(ph_[0-9a-f]+_)(.+)$")


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "pilothouse"


def config_path() -> Path:
    return config_dir() / "config.yaml"


def mask(key: str | None) -> str | None:
    """A key as it may be shown: its public ``ph_<id>_`` part, never the secret."""
    if not key:
        return None
    m = KEY_SHAPE.match(key)
    return f"{m.group(1)}****" if m else "****"


@dataclass
class Context:
    name: str
    url: str | None = None
    api_key: str | None = None

    def shown(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "api_key": mask(self.api_key)}


@dataclass
class UserConfig:
    current: str | None = None
    contexts: dict[str, Context] = field(default_factory=dict)

    @classmethod
    def parse(cls, doc: Any, where: str) -> UserConfig:
        if doc is None:
            return cls()
        if not isinstance(doc, dict):
            raise InputError(f"{where} must be a mapping")
        contexts: dict[str, Context] = {}
        raw = doc.get("contexts") or {}
        if not isinstance(raw, dict):
            raise InputError(f"{where}: contexts must be a mapping of name to {{url, api-key}}")
        for name, body in raw.items():
            body = body or {}
            if not isinstance(body, dict):
                raise InputError(f"{where}: context {name!r} must be a mapping")
            contexts[str(name)] = Context(str(name), body.get("url"), body.get("api-key"))
        current = doc.get("current-context")
        return cls(str(current) if current else None, contexts)

    def document(self) -> dict[str, Any]:
        contexts: dict[str, Any] = {}
        for name, c in self.contexts.items():
            body = {k: v for k, v in (("url", c.url), ("api-key", c.api_key)) if v}
            contexts[name] = body
        return {"current-context": self.current, "contexts": contexts}


def load() -> UserConfig:
    """The config as it is on disk (empty if there is none)."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserConfig()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    import yaml

    try:
        return UserConfig.parse(yaml.safe_load(text), str(path))
    except yaml.YAMLError as exc:
        raise InputError(f"{path} is not YAML: {exc}") from None


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    import fcntl

    directory = config_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    fd = os.open(directory / ".config.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write(config: UserConfig) -> None:
    import yaml

    path = config_path()
    text = yaml.safe_dump(config.document(), sort_keys=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def change(edit: Callable[[UserConfig], None]) -> UserConfig:
    """Apply ``edit`` to the config on disk, under the lock; the config as written."""
    with _locked():
        config = load()
        edit(config)
        _write(config)
        return config


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise InputError(f"context name {name!r}: letters, digits, '.', '_' and '-', at most 63")
    return name


def resolve(
    url: str | None, api_key: str | None, context: str | None, default_url: str
) -> tuple[str, str | None]:
    """The URL and key to use: ``--url``/``--api-key`` given on the command line, then ``--context``'s,
    then ``PILOTHOUSE_URL``/``PILOTHOUSE_API_KEY``, then the current context's, then the default URL."""
    env_url, env_key = os.environ.get("PILOTHOUSE_URL") or None, os.environ.get("PILOTHOUSE_API_KEY") or None
    named: Context | None = None
    current: Context | None = None
    if context:
        config = load()
        named = config.contexts.get(context)
        if named is None:
            known = (
                ", ".join(sorted(config.contexts))
                or f"none yet ({program()} config set-context NAME --url URL)"
            )
            raise InputError(f"no context {context!r}; contexts: {known}")
    elif not ((url or env_url) and (api_key or env_key)):
        config = load()
        current = config.contexts.get(config.current) if config.current else None

    def first(*values: str | None) -> str | None:
        return next((v for v in values if v), None)

    return (
        first(url, named.url if named else None, env_url, current.url if current else None) or default_url,
        first(api_key, named.api_key if named else None, env_key, current.api_key if current else None),
    )
