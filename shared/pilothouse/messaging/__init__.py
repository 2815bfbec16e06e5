"""Messaging: the queue port (:mod:`.base`) and its local adapters (:mod:`.memory`, :mod:`.local`)."""

from pilothouse.messaging.base import (
    InvalidParameter,
    InvalidReceiptHandle,
    Message,
    MessageTooLarge,
    MessagingError,
    Queue,
    QueueNotFound,
    QueueSpec,
)
from pilothouse.messaging.local import LocalQueue
from pilothouse.messaging.memory import MemoryQueue

__all__ = [
    "InvalidParameter",
    "InvalidReceiptHandle",
    "LocalQueue",
    "MemoryQueue",
    "Message",
    "MessageTooLarge",
    "MessagingError",
    "Queue",
    "QueueNotFound",
    "QueueSpec",
]
