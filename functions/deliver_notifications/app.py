"""Queue-triggered: one delivery attempt of a notification (signed POST, back-off, dead-letter)."""

from pilothouse.runtime.queue import sqs_function
from pilothouse.services.notification_delivery import handle_message
from pilothouse.wiring import get_services


def _run(body: str) -> str:
    return handle_message(get_services(), body)


handler = sqs_function(_run)
