"""The embedded cloud's :class:`~pilothouse.ports.Invoker`: the project's functions, in this process,
by logical id or folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pilothouse.ports import FunctionError, UnknownFunction


class LocalInvoker:
    """Functions from template.yaml, invoked through a
    :class:`~pilothouse.embedded.functions.FunctionPool`."""

    def __init__(self, pool) -> None:
        self.pool = pool
        self._aliases: dict[str, str] = {}
        for logical, fn in pool.functions.items():
            self._aliases[logical] = logical
            self._aliases[fn.code_dir.name] = logical
            self._aliases.setdefault(logical.removesuffix("Function"), logical)

    @classmethod
    def from_project(cls, project_dir: Path, settings) -> LocalInvoker:
        from pilothouse.embedded.functions import FunctionPool
        from pilothouse.embedded.template import read_cloud

        return cls(FunctionPool(read_cloud(project_dir, settings).functions))

    def timeout_of(self, function: str) -> float:
        return self.pool.functions[self._resolve(function)].timeout

    def _resolve(self, function: str) -> str:
        try:
            return self._aliases[function]
        except KeyError:
            raise UnknownFunction(f"no function named {function!r} in this project") from None

    def invoke(self, function: str, payload: Any) -> Any:
        name = self._resolve(function)
        try:
            return self.pool.invoke(name, payload)
        except Exception as exc:
            raise FunctionError(type(exc).__name__, str(exc)) from exc
