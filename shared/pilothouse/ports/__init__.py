"""The ports: every interface the services ask of the outside world, and the values they exchange.

This module imports nothing else of Pilothouse (the import contract in ``pyproject.toml`` checks
it), so a service, an adapter or a test double can depend on it without pulling anything in.
Adapters implement these interfaces (``store/``, ``messaging/``, ``blobs/``, ``providers/``,
``orchestrators/``; the embedded cloud's invoker is ``embedded/invoker.py`` and the embedded engine
``services/embedded_orchestrator.py``); :mod:`pilothouse.wiring` picks and assembles them; the
services receive them through a :class:`pilothouse.services.context.ServiceContext`.

The rules every adapter honours are written next to its helpers: :mod:`pilothouse.store.base`,
:mod:`pilothouse.messaging.base`, :mod:`pilothouse.blobs.base`, :mod:`pilothouse.providers.base`.

Each port lives in a module of its own (``pilothouse.ports.store``, ``.queue``, ``.blobs``,
``.invoker``, ``.orchestrator``, ``.providers``, ``.clock``, ``.keys``); this package names them all and loads
a module only when one of its names is first used, so a function pays only for the ports it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pilothouse.ports.blobs import (
        DEFAULT_CONTENT_TYPE as DEFAULT_CONTENT_TYPE,
    )
    from pilothouse.ports.blobs import (
        BlobError as BlobError,
    )
    from pilothouse.ports.blobs import (
        BlobInfo as BlobInfo,
    )
    from pilothouse.ports.blobs import (
        BlobNotFound as BlobNotFound,
    )
    from pilothouse.ports.blobs import (
        Blobs as Blobs,
    )
    from pilothouse.ports.blobs import (
        InvalidBlobArgument as InvalidBlobArgument,
    )
    from pilothouse.ports.blobs import (
        InvalidKey as InvalidKey,
    )
    from pilothouse.ports.clock import (
        Clock as Clock,
    )
    from pilothouse.ports.invoker import (
        LAMBDA_INVOKE as LAMBDA_INVOKE,
    )
    from pilothouse.ports.invoker import (
        FunctionError as FunctionError,
    )
    from pilothouse.ports.invoker import (
        Invoker as Invoker,
    )
    from pilothouse.ports.invoker import (
        TaskCall as TaskCall,
    )
    from pilothouse.ports.invoker import (
        UnknownFunction as UnknownFunction,
    )
    from pilothouse.ports.invoker import (
        lambda_envelope as lambda_envelope,
    )
    from pilothouse.ports.invoker import (
        task_call as task_call,
    )
    from pilothouse.ports.keys import (
        KeyError_ as KeyError_,
    )
    from pilothouse.ports.keys import (
        KeyWrapper as KeyWrapper,
    )
    from pilothouse.ports.keys import (
        UnknownKey as UnknownKey,
    )
    from pilothouse.ports.keys import (
        UnwrapFailed as UnwrapFailed,
    )
    from pilothouse.ports.keys import (
        WrappedKey as WrappedKey,
    )
    from pilothouse.ports.orchestrator import (
        Orchestrator as Orchestrator,
    )
    from pilothouse.ports.providers import (
        HealthCheck as HealthCheck,
    )
    from pilothouse.ports.providers import (
        HealthResult as HealthResult,
    )
    from pilothouse.ports.providers import (
        Metrics as Metrics,
    )
    from pilothouse.ports.providers import (
        Placement as Placement,
    )
    from pilothouse.ports.providers import (
        PortUnavailable as PortUnavailable,
    )
    from pilothouse.ports.providers import (
        Provider as Provider,
    )
    from pilothouse.ports.providers import (
        ProviderError as ProviderError,
    )
    from pilothouse.ports.providers import (
        ProviderUnavailable as ProviderUnavailable,
    )
    from pilothouse.ports.providers import (
        Release as Release,
    )
    from pilothouse.ports.providers import (
        RevisionProvider as RevisionProvider,
    )
    from pilothouse.ports.queue import (
        InvalidParameter as InvalidParameter,
    )
    from pilothouse.ports.queue import (
        InvalidReceiptHandle as InvalidReceiptHandle,
    )
    from pilothouse.ports.queue import (
        Message as Message,
    )
    from pilothouse.ports.queue import (
        MessageTooLarge as MessageTooLarge,
    )
    from pilothouse.ports.queue import (
        MessagingError as MessagingError,
    )
    from pilothouse.ports.queue import (
        Queue as Queue,
    )
    from pilothouse.ports.queue import (
        QueueNotFound as QueueNotFound,
    )
    from pilothouse.ports.queue import (
        QueueSpec as QueueSpec,
    )
    from pilothouse.ports.store import (
        Check as Check,
    )
    from pilothouse.ports.store import (
        Delete as Delete,
    )
    from pilothouse.ports.store import (
        EncodedItem as EncodedItem,
    )
    from pilothouse.ports.store import (
        Item as Item,
    )
    from pilothouse.ports.store import (
        Page as Page,
    )
    from pilothouse.ports.store import (
        Put as Put,
    )
    from pilothouse.ports.store import (
        Store as Store,
    )
    from pilothouse.ports.store import (
        Write as Write,
    )

#: where each name lives
_HOME = {
    "BlobError": "blobs",
    "BlobInfo": "blobs",
    "BlobNotFound": "blobs",
    "Blobs": "blobs",
    "Check": "store",
    "Clock": "clock",
    "DEFAULT_CONTENT_TYPE": "blobs",
    "Delete": "store",
    "EncodedItem": "store",
    "FunctionError": "invoker",
    "HealthCheck": "providers",
    "HealthResult": "providers",
    "InvalidBlobArgument": "blobs",
    "InvalidKey": "blobs",
    "InvalidParameter": "queue",
    "InvalidReceiptHandle": "queue",
    "Invoker": "invoker",
    "Item": "store",
    "LAMBDA_INVOKE": "invoker",
    "Message": "queue",
    "MessageTooLarge": "queue",
    "MessagingError": "queue",
    "Metrics": "providers",
    "Orchestrator": "orchestrator",
    "Page": "store",
    "Placement": "providers",
    "PortUnavailable": "providers",
    "Provider": "providers",
    "ProviderError": "providers",
    "ProviderUnavailable": "providers",
    "Put": "store",
    "Queue": "queue",
    "QueueNotFound": "queue",
    "QueueSpec": "queue",
    "Release": "providers",
    "RevisionProvider": "providers",
    "Store": "store",
    "TaskCall": "invoker",
    "UnknownFunction": "invoker",
    "Write": "store",
    "lambda_envelope": "invoker",
    "task_call": "invoker",
    "KeyError_": "keys",
    "KeyWrapper": "keys",
    "UnknownKey": "keys",
    "UnwrapFailed": "keys",
    "WrappedKey": "keys",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    try:
        home = _HOME[name]
    except KeyError:
        raise AttributeError(f"module 'pilothouse.ports' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"pilothouse.ports.{home}"), name)
    globals()[name] = value
    return value
