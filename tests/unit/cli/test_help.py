"""Help text reads like a CLI's, not like Python: click's metavars (TEXT, INTEGER, NAME), no type on
a flag, no ``list[...]`` (typer 0.27 changed all three; pyproject pins the release before it)."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from pilothouse.cli.main import app

PYTHONIC = re.compile(r"<(str|bool|int|float|list\[[a-z]+\])[^>]*>")
BRACED_NAME = re.compile(r"Usage:.*\{[a-z_]+\}")


@pytest.mark.parametrize(
    "args",
    [
        (),
        ("components", "update"),
        ("components", "deploy"),
        ("deployments", "promote"),
        ("workflow", "run"),
        ("config", "set-context"),
    ],
)
def test_help_shows_no_python_types(args, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert not PYTHONIC.search(result.stdout), result.stdout
    assert not BRACED_NAME.search(result.stdout), result.stdout


def test_update_help_names_arguments_and_types_the_click_way(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    text = CliRunner().invoke(app, ["components", "update", "--help"]).stdout
    assert "[OPTIONS] NAME" in text
    assert "the component's name" in text  # argument help is shown
    assert re.search(r"^\s+--set TEXT\s", text, re.M), text
    wait_line = next(line for line in text.splitlines() if "-w, --wait" in line)
    assert "TEXT" not in wait_line and "BOOL" not in wait_line.upper().replace("--WAIT", "")


def test_the_roots_listing_is_each_commands_own_first_help_line():
    from pilothouse.cli.main import COMMANDS, load_command

    for name, (_module, _attribute, line) in COMMANDS.items():
        command = load_command(name)
        assert (command.help or "").strip().splitlines()[0] == line, name


def test_help_loads_no_command_module_nor_httpx_rich_yaml_or_the_engine():
    import subprocess
    import sys

    code = (
        "import sys; from pilothouse.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('httpx', 'rich', 'yaml', 'pilothouse.engine', 'pilothouse.cli.components', "
        "'pilothouse.cli.deployments', 'pilothouse.domain.lifecycle')\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in out
