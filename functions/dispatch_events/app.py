"""Scheduled: hand the event feed's outbox to the notification channels and the event alert rules."""

from pilothouse.runtime.queue import scheduled_function
from pilothouse.services.event_feed import dispatch
from pilothouse.wiring import get_services


def _dispatch(event: dict) -> dict:
    return dispatch(get_services())


handler = scheduled_function(_dispatch)
