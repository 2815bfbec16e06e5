"""Scheduled: evaluate every alert rule (metrics, health, backup age), then dispatch the feed."""

from pilothouse.runtime.queue import scheduled_function
from pilothouse.services.alert_sweep import sweep
from pilothouse.wiring import get_services


def _sweep(event: dict) -> dict:
    return sweep(get_services())


handler = scheduled_function(_sweep)
