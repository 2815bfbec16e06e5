"""Queue-triggered: check one batch of components (probe, replace dead or failing replicas,
record health and its events)."""

from pilothouse.runtime.queue import sqs_function
from pilothouse.services.health_sweep import handle_message
from pilothouse.wiring import get_services


def _check(body: str) -> dict:
    return handle_message(get_services(), body)


handler = sqs_function(_check)
