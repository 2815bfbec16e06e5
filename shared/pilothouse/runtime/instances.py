"""Function instances for hosts that run many invocations in one process (Azure Functions' Python
worker, functions-framework under gunicorn threads).

A function's handler (``functions/<name>/app.py``) is written for Lambda: one event at a time per
loaded module (its HTTP resolver keeps the event being resolved on itself). On Azure and Google
Cloud one process serves a function's invocations on several threads at once, so each concurrent
invocation takes its own instance of the module, loaded on first need and reused afterwards, as
Lambda reuses a warm execution environment. Nothing is loaded before a function is first called:
indexing every operation costs no imports of their modules.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Handler = Callable[[Any, Any], Any]

_counter = itertools.count()
#: first imports of the same packages from several threads at once can deadlock or see half-made
#: modules: instances load one at a time (only the first call of each instance pays for it)
_load_lock = threading.Lock()


@dataclass
class InvocationContext:
    """What a Lambda-shaped handler reads of its context (Powertools' logger and idempotency)."""

    function_name: str
    timeout: float
    aws_request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    memory_limit_in_mb: int = 0
    started: float = field(default_factory=time.monotonic)
    #: the host that invokes it (``azure-functions``, ``gcp-functions``): in the log lines' function ARN
    host: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"{self.host}:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout - (time.monotonic() - self.started)) * 1000))


def load_handler(path: Path, attr: str = "handler") -> Handler:
    """A fresh instance of the module at ``path`` (its own module state); its ``attr``."""
    spec = importlib.util.spec_from_file_location(f"pilothouse_fn_{path.parent.name}_{next(_counter)}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    with _load_lock:
        spec.loader.exec_module(module)
    return getattr(module, attr)


class HandlerPool:
    """The instances of one function: an idle one serves a call, or a new one is loaded.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "echo"
    >>> folder.mkdir()
    >>> _ = (folder / "app.py").write_text("def handler(event, context):\\n    return event\\n")
    >>> pool = HandlerPool(folder / "app.py")
    >>> with pool.instance() as handler:
    ...     handler({"a": 1}, None)
    {'a': 1}
    >>> pool.loaded
    1
    """

    def __init__(self, path: Path, loader: Callable[[Path], Handler] = load_handler) -> None:
        self.path = path
        self._loader = loader
        self._idle: list[Handler] = []
        self._lock = threading.Lock()
        self.loaded = 0

    @contextmanager
    def instance(self) -> Iterator[Handler]:
        """An instance that serves no other call until this one is done."""
        with self._lock:
            handler = self._idle.pop() if self._idle else None
        if handler is None:
            handler = self._loader(self.path)
            with self._lock:
                self.loaded += 1
        try:
            yield handler
        finally:
            with self._lock:
                self._idle.append(handler)


def functions_dir(*candidates: Path) -> Path:
    """The first of ``candidates`` that holds the suite's functions (``<name>/app.py`` folders)."""
    for candidate in candidates:
        if (candidate / "health" / "app.py").is_file():
            return candidate
    raise FileNotFoundError(
        "the functions/ folder is not beside the entry point; set PILOTHOUSE_FUNCTIONS_DIR (looked in "
        + ", ".join(str(c) for c in candidates)
        + ")"
    )
