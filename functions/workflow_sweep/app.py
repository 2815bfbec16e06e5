"""Scheduled: hand over long timers, re-send what a dead worker left, fail tasks whose lease lapsed."""

from pilothouse.runtime.queue import scheduled_function
from pilothouse.services.execution_steps import sweep
from pilothouse.wiring import get_services


def _sweep(event: dict) -> dict:
    return sweep(get_services())


handler = scheduled_function(_sweep)
