"""Scheduled: measure every running component, ingest our own EMF, compact hour rollups."""

from pilothouse.runtime.emf import drain
from pilothouse.runtime.queue import scheduled_function
from pilothouse.services.metric_collection import collect
from pilothouse.wiring import get_services


def _collect(event: dict) -> dict:
    return collect(get_services(), own=drain())


handler = scheduled_function(_collect)
