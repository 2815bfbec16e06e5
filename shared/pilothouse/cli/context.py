"""What every command shares: connection settings, output format, and turning errors into exit codes."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer

from pilothouse.cli.client import ApiError, Client
from pilothouse.cli.files import InputError


class Output(StrEnum):
    table = "table"
    json = "json"


OutputOption = Annotated[
    Output | None,
    typer.Option("--output", "-o", help="table (default) or json (the raw API answer)", case_sensitive=False),
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

    def client(self) -> Client:
        return Client(self.url, self.api_key)


def settings(ctx: typer.Context, output: Output | None = None) -> Settings:
    """The root options, with a command's own ``--output`` taking precedence."""
    root: Settings = ctx.find_root().obj or Settings(url="", api_key=None)
    return Settings(root.url, root.api_key, output or root.output)


F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(fn: F) -> F:
    """Turn API errors into a readable report on stderr and exit 1; bad input into a usage error (2)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from pilothouse.cli.render import print_problem

        try:
            return fn(*args, **kwargs)
        except ApiError as exc:
            print_problem(exc.status, exc.problem)
            raise typer.Exit(1) from None
        except InputError as exc:
            raise typer.BadParameter(str(exc)) from None

    return wrapper  # type: ignore[return-value]
