#!/usr/bin/env python3
"""pipeline-generator: ``POST /generate <the detector's output>`` → GitHub Actions workflow YAML
whose steps are named after the detected commands."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from pipeline import generate  # noqa: E402
from service import serve  # noqa: E402


def handle(body: dict, version: str) -> dict:
    return {**generate(body), "generator_version": version}


if __name__ == "__main__":
    serve("pipeline-generator", "generate", handle)
