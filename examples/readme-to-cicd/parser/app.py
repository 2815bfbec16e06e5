#!/usr/bin/env python3
"""readme-parser: ``POST /parse {"readme": "<markdown>"}`` → sections, code blocks, commands.
Version 2.0.0 adds a one-sentence ``summary`` to each section."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from readme_parser import parse  # noqa: E402
from service import serve  # noqa: E402


def handle(body: dict, version: str) -> dict:
    parsed = parse(body.get("readme", ""), summaries=not version.startswith("1."))
    return {**parsed, "parser_version": version}


if __name__ == "__main__":
    serve("readme-parser", "parse", handle)
