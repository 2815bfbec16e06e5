"""Shared base for state classes."""
from __future__ import annotations

from typing import Any


class BaseState:
    """Default behaviour: states that never wait do nothing when polled."""

    @staticmethod
    def start(it: Any, run: dict, chain: list, st: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def poll(it: Any, run: dict, chain: list, st: dict) -> bool:
        """Nothing to wait for."""
        return False
