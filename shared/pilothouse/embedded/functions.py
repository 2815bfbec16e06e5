"""Loading and invoking functions as Lambda would: a pool of instances per function.

Each instance is the function's module loaded on its own (its own resolver, its own module state)
and handles one event at a time, like a Lambda execution environment; concurrent invocations
take other instances, created on demand up to ``max_instances``.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pilothouse.embedded.ids import invocation_id
from pilothouse.embedded.template import FunctionDef
from pilothouse.runtime.events import HttpRequest

_counter = itertools.count()
#: Python's import machinery is not safe when several threads first-import the same packages at once
#: (partially initialised modules, _DeadlockError); loading instances one at a time avoids that.
_load_lock = threading.Lock()


@dataclass
class LambdaContext:
    """The context object a handler receives (the attributes Powertools reads)."""

    function_name: str
    timeout: float
    aws_request_id: str = field(default_factory=invocation_id)
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - (time.monotonic() - self.started)) * 1000))


def load_module(fn: FunctionDef) -> Any:
    """Load a fresh instance of the function's module; return its handler callable."""
    module_name, _, attr = fn.handler.rpartition(".")
    path = fn.code_dir / (module_name.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(f"pilothouse_fn_{fn.name}_{next(_counter)}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"cannot load {path} for function {fn.name}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    with _load_lock:
        spec.loader.exec_module(module)
    return getattr(module, attr)


class FunctionPool:
    """Invokes functions by logical id, one event per instance at a time."""

    def __init__(
        self, functions: dict[str, FunctionDef], max_instances: int = 8, *, direct: bool = True
    ) -> None:
        self.functions = functions
        self.max_instances = max_instances
        #: serve HTTP reads through the handlers' direct path (False: always send the event)
        self.direct = direct
        self._idle: dict[str, list[Any]] = {name: [] for name in functions}
        self._count: dict[str, int] = dict.fromkeys(functions, 0)
        self._cond = threading.Condition()

    def _acquire(self, name: str) -> Any:
        with self._cond:
            while True:
                if self._idle[name]:
                    return self._idle[name].pop()
                if self._count[name] < self.max_instances:
                    self._count[name] += 1
                    break
                self._cond.wait()
        try:
            return load_module(self.functions[name])
        except BaseException:
            with self._cond:
                self._count[name] -= 1
                self._cond.notify()
            raise

    def _release(self, name: str, instance: Any) -> None:
        with self._cond:
            self._idle[name].append(instance)
            self._cond.notify()

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        if name not in self.functions:
            raise KeyError(f"no function {name!r} in the template")
        handler = self._acquire(name)
        try:
            return handler(event, LambdaContext(name, self.functions[name].timeout))
        finally:
            self._release(name, handler)

    def serve(self, name: str, request: HttpRequest) -> Any:
        """Invoke the function with an HTTP request: through its handler's direct read path when
        it has one that serves the request (``runtime.http_direct``), else with the request's
        payload-2.0 event. Either way one instance, one context, one invocation."""
        if name not in self.functions:
            raise KeyError(f"no function {name!r} in the template")
        handler = self._acquire(name)
        try:
            context = LambdaContext(name, self.functions[name].timeout)
            direct = getattr(handler, "direct", None) if self.direct else None
            result = direct(request, context) if direct is not None else None
            return handler(request.event(), context) if result is None else result
        finally:
            self._release(name, handler)


def invoke(project_dir: Path, function_name: str, event: dict[str, Any]) -> Any:
    """Invoke one function of the project once (``pilothouse invoke``)."""
    from pilothouse.embedded.template import read_cloud
    from pilothouse.settings import get_settings

    cloud = read_cloud(project_dir, get_settings())
    matches = [n for n in cloud.functions if n in (function_name, f"{function_name}Function")] or [
        n for n, f in cloud.functions.items() if f.code_dir.name == function_name
    ]
    if not matches:
        raise KeyError(f"no function {function_name!r}; known: {', '.join(sorted(cloud.functions))}")
    return FunctionPool({matches[0]: cloud.functions[matches[0]]}).invoke(matches[0], event)
