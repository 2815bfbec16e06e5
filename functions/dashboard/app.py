"""GET / and GET /{proxy+}: the web dashboard (pages, assets, fragments)."""

from pilothouse.dashboard.handler import handler

__all__ = ["handler"]
