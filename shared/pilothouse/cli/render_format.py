"""The data format (json or yaml) of the command running now: :func:`pilothouse.cli.render.print_json`
prints in it. Set with the command's settings (one command per process; tests run one at a time)."""

from __future__ import annotations

#: "yaml", "json" or None (a table)
STRUCTURED: str | None = None
