"""Scheduled: evaluate every autoscaling policy and scale through the lifecycle's Scale command."""

from pilothouse.runtime.queue import scheduled_function
from pilothouse.services.autoscaler import sweep
from pilothouse.wiring import get_services


def _autoscale(event: dict) -> dict:
    return sweep(get_services())


handler = scheduled_function(_autoscale)
