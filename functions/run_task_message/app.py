"""Queue-triggered: run a task a state machine sent as a message, and answer with its token."""

from pilothouse.runtime.queue import sqs_function
from pilothouse.services.task_messages import handle
from pilothouse.wiring import get_services


def _task(body: str) -> str:
    return handle(get_services(), body)


handler = sqs_function(_task)
