"""Component specs for tests: the greeter example, overridable field by field."""

from __future__ import annotations


def spec(name="web", **over):
    s = {
        "name": name,
        "provider": "local",
        "environment": "development",
        "version": "1.0.0",
        "target": {"command": ["{python}", "examples/greeter/app.py", "--port", "{port}"]},
        "scaling": {"min": 1, "max": 5},
        "config_schema": {"type": "object", "properties": {"greeting": {"type": "string"}}},
        "config": {"greeting": "hi"},
    }
    s.update(over)
    return s
