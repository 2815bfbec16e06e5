"""The queue port (see :mod:`pilothouse.ports`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Message:
    """One received message. ``receipt_handle`` identifies this receipt, not the message."""

    id: str
    body: str
    receipt_handle: str
    receive_count: int
    sent_at: float
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueSpec:
    """A queue's settings. ``dead_letter_queue`` names a queue that must already be declared."""

    name: str
    visibility_timeout: int = 30
    max_receive_count: int | None = None
    dead_letter_queue: str | None = None


class MessagingError(Exception):
    """Base class of the errors of the queue port."""


class QueueNotFound(MessagingError):
    """The queue was never declared."""

    def __init__(self, queue: str) -> None:
        super().__init__(f"queue {queue!r} does not exist (declare it first)")
        self.queue = queue


class MessageTooLarge(MessagingError):
    """The message (body plus attributes) is larger than 256 KiB."""


class InvalidReceiptHandle(MessagingError):
    """The receipt handle is not the latest one of a message still in the queue."""


class InvalidParameter(MessagingError):
    """An argument is outside what the port allows (e.g. a delay over 900 s)."""


class Queue(Protocol):
    """Named message queues with SQS standard-queue semantics (see :mod:`pilothouse.messaging.base`)."""

    def declare(self, spec: QueueSpec) -> None:
        """Create the queue, or update its settings if it exists (idempotent)."""
        ...

    def send(
        self, queue: str, body: str, *, delay_seconds: float = 0, attributes: dict[str, str] | None = None
    ) -> str:
        """Enqueue one message; returns its id."""
        ...

    def send_batch(self, queue: str, bodies: list[str], *, delay_seconds: float = 0) -> list[str]:
        """Enqueue several messages (any number; adapters split as their service needs); ids in order."""
        ...

    def receive(
        self,
        queue: str,
        *,
        max_messages: int = 10,
        visibility_timeout: int | None = None,
        wait_seconds: float = 0,
    ) -> list[Message]:
        """Claim up to ``max_messages`` visible messages."""
        ...

    def delete(self, queue: str, receipt_handle: str) -> None:
        """Remove a received message; a stale handle is ignored."""
        ...

    def change_visibility(self, queue: str, receipt_handle: str, timeout: float) -> None:
        """Make a received message visible again ``timeout`` seconds from now (0: at once)."""
        ...

    def depth(self, queue: str) -> dict:
        """Approximate counts: ``{"visible": n, "in_flight": n, "delayed": n}``."""
        ...

    def purge(self, queue: str) -> None:
        """Delete every message of the queue."""
        ...

    def url_of(self, queue: str) -> str | None:
        """The URL a state machine's ``sqs:sendMessage`` task names, or None where queues have no URL
        (the in-memory and local queues)."""
        ...
