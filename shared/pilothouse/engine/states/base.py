"""Shared base for state classes."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class BaseState(ABC):
    """Default behaviour: states that never wait do nothing when polled."""

    @staticmethod
    @abstractmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:
        """Begin the state's own work (every state type defines it)."""

    @staticmethod
    def poll(it: Any, run: dict, chain: list, st: dict) -> bool:
        """Nothing to wait for."""
        return False
