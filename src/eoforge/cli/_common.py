"""Shared CLI helpers: turn eoforge errors into one red line and exit code 2."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from eoforge.core.errors import EoforgeError

F = TypeVar("F", bound=Callable[..., Any])


def fail_on_error(func: F) -> F:
    """Decorator: an :class:`EoforgeError` prints ``error: ...`` on stderr and exits with code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except EoforgeError as err:
            typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def planned_app(name: str, issue: int, summary: str) -> typer.Typer:
    """A sub-app for a capability still being built: ``status`` says what exists and what is next."""
    app = typer.Typer(help=f"{summary} (in development: see issue {issue}).", no_args_is_help=True)

    @app.command()
    def status() -> None:
        """Say what this capability provides today."""
        typer.echo(
            f"eoforge {name}: {summary}. Its commands are not available yet (issue {issue}); "
            "see the README for what each release provides."
        )

    return app
