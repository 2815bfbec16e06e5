"""Scheduled (hourly): a backup when the newest is older than the interval (daily), retention, RPO."""

from pilothouse.runtime.queue import scheduled_function
from pilothouse.services.backup_schedule import backup_sweep
from pilothouse.wiring import get_services


def _sweep(event: dict) -> dict:
    return backup_sweep(get_services())


handler = scheduled_function(_sweep)
