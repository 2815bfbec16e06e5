"""Scheduled: fan the health check out (one health-queue message per batch of Running
components) and stop local replicas no component records."""

from pilothouse.runtime.queue import scheduled_function
from pilothouse.services.health_sweep import sweep
from pilothouse.wiring import get_services


def _sweep(event: dict) -> dict:
    return sweep(get_services())


handler = scheduled_function(_sweep)
