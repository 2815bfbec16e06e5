"""Queue-triggered: carry out a component's long command (deploy, update, scale, stop, retry)."""

from pilothouse.runtime.queue import sqs_function
from pilothouse.services.jobs import handle_message
from pilothouse.wiring import get_services


def _run(body: str) -> str:
    return handle_message(get_services(), body)


handler = sqs_function(_run)
