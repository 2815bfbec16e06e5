"""Scheduled (daily): drill the newest backup when the last drill is older than the interval (weekly)."""

from pilothouse.runtime.queue import scheduled_function
from pilothouse.services.backup_schedule import drill_sweep
from pilothouse.wiring import get_services


def _sweep(event: dict) -> dict:
    return drill_sweep(get_services())


handler = scheduled_function(_sweep)
