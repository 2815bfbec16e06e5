"""``--strategy``: how a deploy, update, retry or promotion names its strategy (a preset, a type, or
``@FILE`` with a full strategy)."""

from __future__ import annotations

import re
from typing import Annotated, Any

import typer

from pilothouse.cli.files import InputError, load_mapping

STRATEGY_TYPES = ("canary", "linear", "rolling", "blue-green", "all-at-once", "custom")
PRESET_RE = re.compile(
    r"^(CodeDeployDefault\.Lambda)?(AllAtOnce|Canary\d{1,2}Percent\d{1,3}Minutes|Linear\d{1,2}PercentEvery\d{1,3}Minutes?)$"
)

StrategyOption = Annotated[
    str | None,
    typer.Option(
        "--strategy",
        "-s",
        help="a preset (Canary10Percent5Minutes, Linear10PercentEvery1Minute, AllAtOnce, …), a type "
        "(canary, linear, rolling, blue-green, all-at-once) or @FILE with a full strategy (YAML or JSON)",
        show_default=False,
    ),
]


def strategy_value(text: str) -> str | dict[str, Any]:
    """What ``--strategy`` sends: a preset or type name as it is, or the mapping in ``@file``."""
    text = text.strip()
    if text.startswith("@"):
        if len(text) == 1:
            raise InputError("--strategy @FILE needs a file name")
        return load_mapping(text[1:], "a strategy")
    if not text:
        raise InputError("--strategy is empty")
    if text not in STRATEGY_TYPES and not PRESET_RE.match(text):
        raise InputError(
            f"--strategy {text!r} is neither a preset (Canary10Percent5Minutes, Linear10PercentEvery1Minute, "
            f"AllAtOnce, …) nor a type ({', '.join(STRATEGY_TYPES)}); a full strategy goes as @file.yaml"
        )
    return text
