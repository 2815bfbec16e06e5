"""Queue-triggered: run one Task state's function (at most once) and apply its result."""

from pilothouse.runtime.queue import sqs_function
from pilothouse.services.execution_steps import handle_task_message
from pilothouse.wiring import get_services


def _task(body: str) -> str:
    return handle_task_message(get_services(), body)


handler = sqs_function(_task)
