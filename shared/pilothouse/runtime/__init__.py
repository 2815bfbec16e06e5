"""Trigger adapters: the only code that knows the shapes of HTTP, queue and schedule events."""
