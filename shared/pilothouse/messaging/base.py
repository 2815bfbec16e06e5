"""The queue port's rules (the interface is :class:`pilothouse.ports.Queue`) and checks the adapters share.

The semantics are those of an SQS *standard* queue, which every adapter (in-memory, local SQLite,
SQS, Azure Storage queues) must honour:

* ``send`` makes a message visible after its ``delay_seconds`` (0 to 900).
* ``receive`` hands out up to ``max_messages`` (1 to 10) visible messages, roughly oldest-visible
  first, and hides each for the visibility timeout (the queue's, or the one given to ``receive``).
  Every receive issues a fresh receipt handle and adds one to the message's ``receive_count``.
* A message that is not deleted before its visibility timeout ends becomes visible again.
* When a queue has a dead-letter queue and a message would be received for the
  ``max_receive_count + 1``-th time, it is moved to the dead-letter queue instead (same id, body,
  attributes and ``sent_at``; receive count back to 0) and is not returned.
* ``delete`` and ``change_visibility`` take the receipt handle of the latest receive. Deleting with
  a stale handle (the message was received again since, or is already gone) is silently ignored,
  as on SQS; changing the visibility with one raises :class:`InvalidReceiptHandle`.
* ``wait_seconds`` (0 to 20) long-polls: ``receive`` waits up to that many *real* seconds for a
  message and returns as soon as one arrives. Visibility and delays follow the injected clock.
* A message (body plus attribute names and values, UTF-8) may be at most 256 KiB.
* Using a queue that was never declared raises :class:`QueueNotFound`.
"""

from __future__ import annotations

from pilothouse.ports import (
    InvalidParameter,
    InvalidReceiptHandle,
    Message,
    MessageTooLarge,
    MessagingError,
    Queue,
    QueueNotFound,
    QueueSpec,
)

# The interface, its values and errors are the port's (pilothouse.ports); re-exported for the adapters.
__all__ = [
    "InvalidParameter",
    "InvalidReceiptHandle",
    "Message",
    "MessageTooLarge",
    "MessagingError",
    "Queue",
    "QueueNotFound",
    "QueueSpec",
]

MAX_MESSAGE_BYTES = 256 * 1024
MAX_DELAY_SECONDS = 900
MAX_VISIBILITY_TIMEOUT = 12 * 60 * 60
MAX_RECEIVE_MESSAGES = 10
MAX_WAIT_SECONDS = 20


# -- checks shared by the adapters ---------------------------------------------------------------


def check_spec(spec: QueueSpec) -> None:
    """Raise :class:`InvalidParameter` for settings no adapter can honour."""
    if not spec.name or len(spec.name) > 80 or not all(c.isalnum() or c in "-_" for c in spec.name):
        raise InvalidParameter(
            f"queue name {spec.name!r} must be 1-80 characters of letters, digits, '-' and '_'"
        )
    check_visibility(spec.visibility_timeout)
    if spec.max_receive_count is not None and spec.max_receive_count < 1:
        raise InvalidParameter(f"max_receive_count must be at least 1, got {spec.max_receive_count}")
    if spec.dead_letter_queue is not None:
        if spec.max_receive_count is None:
            raise InvalidParameter(f"queue {spec.name!r}: a dead-letter queue needs a max_receive_count")
        if spec.dead_letter_queue == spec.name:
            raise InvalidParameter(f"queue {spec.name!r} cannot be its own dead-letter queue")


def check_visibility(timeout: float) -> None:
    if not 0 <= timeout <= MAX_VISIBILITY_TIMEOUT:
        raise InvalidParameter(f"visibility timeout must be 0..{MAX_VISIBILITY_TIMEOUT} s, got {timeout}")


def check_delay(delay_seconds: float) -> None:
    if not 0 <= delay_seconds <= MAX_DELAY_SECONDS:
        raise InvalidParameter(f"delay_seconds must be 0..{MAX_DELAY_SECONDS}, got {delay_seconds}")


def check_message(body: str, attributes: dict[str, str] | None) -> None:
    """Raise :class:`MessageTooLarge` past 256 KiB (body plus attribute names and values, UTF-8)."""
    if not isinstance(body, str):
        raise InvalidParameter(f"message body must be a str, got {type(body).__name__}")
    size = len(body.encode("utf-8"))
    for name, value in (attributes or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidParameter("message attribute names and values must be str")
        size += len(name.encode("utf-8")) + len(value.encode("utf-8"))
    if size > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES} (256 KiB)")


def check_receive(max_messages: int, visibility_timeout: int | None, wait_seconds: float) -> None:
    if not 1 <= max_messages <= MAX_RECEIVE_MESSAGES:
        raise InvalidParameter(f"max_messages must be 1..{MAX_RECEIVE_MESSAGES}, got {max_messages}")
    if visibility_timeout is not None:
        check_visibility(visibility_timeout)
    if not 0 <= wait_seconds <= MAX_WAIT_SECONDS:
        raise InvalidParameter(f"wait_seconds must be 0..{MAX_WAIT_SECONDS}, got {wait_seconds}")
