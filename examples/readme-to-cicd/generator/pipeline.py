"""The pipeline generator: a GitHub Actions workflow (YAML) from the detector's findings, one named
step per detected command.

    >>> out = generate({"title": "App", "languages": ["python"], "setup": ["actions/setup-python@v5"],
    ...                 "install": ["pip install -e ."], "lint": [], "test": ["pytest"], "build": []})
    >>> out["steps"]
    ['Check out', 'Set up python', 'Install: pip install -e .', 'Test: pytest']
"""

from __future__ import annotations

import json

KINDS = (("install", "Install"), ("lint", "Lint"), ("test", "Test"), ("build", "Build"))


def _q(value: str) -> str:
    """A YAML scalar that is always a string (JSON strings are YAML)."""
    return json.dumps(value)


def generate(detection: dict) -> dict:
    """``{"yaml": <workflow>, "steps": [names], "name": ...}``; ValueError when nothing was detected."""
    if not isinstance(detection, dict):
        raise ValueError("give the detector's output")
    steps: list[tuple[str, dict]] = [("Check out", {"uses": "actions/checkout@v4"})]
    for lang, action in zip(detection.get("languages", []), detection.get("setup", []), strict=False):
        steps.append((f"Set up {lang}", {"uses": action}))
    for kind, label in KINDS:
        for command in detection.get(kind, []):
            steps.append((f"{label}: {command}", {"run": command}))
    if len(steps) == 1 + len(detection.get("setup", [])):
        raise ValueError("the README names no install, lint, test or build command to run")
    name = f"CI for {detection.get('title') or 'project'}"
    lines = [
        f"name: {_q(name)}",
        "on:",
        "  push:",
        "    branches: [main]",
        "  pull_request: {}",
        "jobs:",
        "  ci:",
        "    runs-on: ubuntu-latest",
        "    steps:",
    ]
    for title, body in steps:
        lines.append(f"      - name: {_q(title)}")
        for key, value in body.items():
            lines.append(f"        {key}: {_q(value)}")
    return {"name": name, "yaml": "\n".join(lines) + "\n", "steps": [t for t, _ in steps]}
