"""Queue-triggered: apply one step of a workflow execution (advance messages)."""

from pilothouse.runtime.queue import sqs_function
from pilothouse.services.execution_steps import handle_step_message
from pilothouse.wiring import get_services


def _step(body: str) -> str:
    return handle_step_message(get_services(), body)


handler = sqs_function(_step)
