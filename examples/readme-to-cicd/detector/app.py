#!/usr/bin/env python3
"""framework-detector: ``POST /detect <the parser's output>`` → languages, package managers and the
install, lint, test and build commands."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from frameworks import detect  # noqa: E402
from service import serve  # noqa: E402


def handle(body: dict, version: str) -> dict:
    return {**detect(body), "detector_version": version}


if __name__ == "__main__":
    serve("framework-detector", "detect", handle)
