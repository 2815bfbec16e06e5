"""What every command shares: connection settings, output format, and turning errors into exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from pilothouse.cli.files import InputError
from pilothouse.cli.prog import program as program

if TYPE_CHECKING:
    from pilothouse.cli.client import Client


class Output(StrEnum):
    table = "table"
    wide = "wide"
    json = "json"
    yaml = "yaml"


OutputOption = Annotated[
    Output | None,
    typer.Option(
        "--output",
        "-o",
        help="table (default), wide (more columns), json or yaml (the raw API answer)",
        case_sensitive=False,
    ),
]

# options shared by the commands that page through a listing, or send a mutating POST
PageSize = Annotated[int, typer.Option("--limit", min=1, max=500, help="page size")]
Cursor = Annotated[str | None, typer.Option("--cursor", help="from a previous page")]
AllPages = Annotated[bool, typer.Option("--all", help="follow next_cursor through every page")]
IdemKey = Annotated[
    str | None, typer.Option("--idempotency-key", help="reuse a key to make a retried call safe")
]


@dataclass
class Settings:
    url: str
    api_key: str | None
    output: Output = Output.table

    def __post_init__(self) -> None:
        from pilothouse.cli import render_format

        render_format.STRUCTURED = self.output if self.structured else None

    @property
    def structured(self) -> bool:
        """JSON or YAML: the API's answer as data, not a table."""
        return self.output in (Output.json, Output.yaml)

    def client(self) -> Client:
        from pilothouse.cli.client import Client

        key = self.api_key
        if not key:  # no API key: the token `pilothouse login` kept for this URL, if any
            from pilothouse.cli.tokens import bearer_for

            key = bearer_for(self.url)
        return Client(self.url, key)


@dataclass
class Root:
    """The root options as given; the URL and key are resolved (flags, context, env) when needed."""

    url: str | None = None
    api_key: str | None = None
    context: str | None = None
    output: Output = Output.table

    def settings(self, output: Output | None = None) -> Settings:
        from pilothouse.cli.client import DEFAULT_URL
        from pilothouse.cli.userconfig import resolve

        url, key = resolve(self.url, self.api_key, self.context, DEFAULT_URL)
        return Settings(url, key, output or self.output)


def settings(ctx: typer.Context, output: Output | None = None, *, connect: bool = True) -> Settings:
    """The root options, with a command's own ``--output`` taking precedence (``connect=False``: the
    output format only, without resolving the URL and key)."""
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, Root) else _root_from_params(root.params)
    if not connect:
        return Settings("", None, output or obj.output)
    return obj.settings(output)


def _root_from_params(params: dict[str, Any]) -> Root:
    """The root options from parsed parameters (shell completion runs no callback)."""
    out = params.get("output")
    return Root(
        url=params.get("url"),
        api_key=params.get("api_key"),
        context=params.get("context"),
        output=Output(out) if out else Output.table,
    )


F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(fn: F) -> F:
    """Turn API errors into a readable report on stderr and exit 1; bad input into a usage error (2)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pilothouse.cli.client import ApiError
        from pilothouse.cli.render import print_problem

        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            print_problem(exc.status, exc.problem, source=exc.body_source)
            raise typer.Exit(1) from None
        except InputError as exc:
            raise typer.BadParameter(str(exc)) from None

    return wrapper  # type: ignore[return-value]
