"""Shared CLI helpers: one red line and exit code 2 for errors, 130 for Ctrl-C, no partial runs."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer

from eoforge.core.errors import EoforgeError, InputError

F = TypeVar("F", bound=Callable[..., Any])


#: Exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
INTERRUPTED = 130


def _has_checkpoint(folder: Path) -> bool:
    """A training checkpoint, or a monitoring run's per-scene records (its resume points)."""
    ckpts = folder / "checkpoints"
    if ckpts.is_dir() and any(p.is_file() for p in ckpts.rglob("*")):
        return True
    return any((folder / "scenes").glob("*.json"))


def _was_empty(out: Path | None) -> bool | None:
    """``None`` if ``out`` did not exist, ``True`` if it was an empty folder, else ``False``."""
    if out is None or not out.exists():
        return None
    return out.is_dir() and not any(out.iterdir())


def _discard_new_run(out: Path | None, before: bool | None) -> bool:
    """Undo what a failed command wrote into ``out`` if ``out`` was new or empty before it.

    A folder the command created is removed; a folder that was empty is emptied again (and
    kept). Nothing is removed once the run holds a checkpoint. Returns ``True`` if undone.
    """
    if out is None or before is False or not out.is_dir() or _has_checkpoint(out):
        return False
    if before is None:
        shutil.rmtree(out, ignore_errors=True)
    else:
        for child in out.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    return True


@contextlib.contextmanager
def _sigint_flag() -> Iterator[list[bool]]:
    """Record whether SIGINT arrived: libraries may turn Ctrl-C into ``SystemExit(1)``."""
    hit: list[bool] = []

    def handler(signum: int, frame: Any) -> None:
        hit.append(True)
        signal.default_int_handler(signum, frame)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield hit
        return
    try:
        yield hit
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def named_as_typed(names: dict[str, str]) -> Iterator[None]:
    """Re-raise an API error ``key=value is invalid ...`` as ``--option=value is invalid ...``.

    The Python API names its arguments; the user typed options.
    """
    try:
        yield
    except InputError as err:
        msg = str(err)
        for key, option in names.items():
            if msg.startswith(f"{key}="):
                raise type(err)(option + msg[len(key) :]) from None
        raise


def fail_on_error(func: F) -> F:
    """Decorator of every command: one line and a clear exit code, and no half-made run folder.

    - An :class:`EoforgeError` prints ``error: ...`` on stderr and exits with code 2.
    - Ctrl-C exits with code 130 and says whether rerunning the command resumes.
    - A command that fails before its first checkpoint removes the ``--out`` folder it created
      (or empties again one that was empty),
      so the corrected command can use the same ``--out``.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        out = Path(out) if isinstance(out, str | os.PathLike) else None
        before = _was_empty(out)
        with _sigint_flag() as sigint:
            try:
                return func(*args, **kwargs)
            except EoforgeError as err:
                _discard_new_run(out, before)
                typer.secho(f"error: {err}", err=True, fg=typer.colors.RED)
                raise typer.Exit(code=2) from None
            except (KeyboardInterrupt, SystemExit) as err:
                if isinstance(err, SystemExit) and not sigint:
                    raise
                _discard_new_run(out, before)
                again = "resume" if out is not None and _has_checkpoint(out) else "start again"
                typer.secho(f"interrupted; rerun the same command to {again}.", err=True)
                raise typer.Exit(code=INTERRUPTED) from None
            except Exception:
                _discard_new_run(out, before)
                raise

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
