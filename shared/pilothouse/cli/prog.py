"""The program name for the hints the CLI prints ("next: <program> components deploy …")."""

from __future__ import annotations

import os
import shutil
import sys


def program() -> str:
    """The command the user ran, for "next: …" hints: ``./pilothouse`` (the wrapper says so in
    PILOTHOUSE_PROG), the path given (``.venv/bin/pilothouse``), else ``pilothouse``."""
    given = os.environ.get("PILOTHOUSE_PROG")
    if given:
        return given
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) != "pilothouse":
        return "pilothouse"
    on_path = shutil.which("pilothouse")
    if "/" not in argv0 or (on_path and os.path.realpath(on_path) == os.path.realpath(argv0)):
        return "pilothouse"
    return argv0
