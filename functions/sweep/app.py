"""Scheduled: re-enqueue lost jobs and purge expired records."""

from pilothouse.runtime.queue import scheduled_function
from pilothouse.services.maintenance import sweep
from pilothouse.wiring import get_services


def _sweep(event: dict) -> dict:
    return sweep(get_services())


handler = scheduled_function(_sweep)
