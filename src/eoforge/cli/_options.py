"""Options shared by the commands, so that one concept has one name everywhere.

Training commands take ``--device``, ``--devices``, ``--precision`` and ``--workers``; the main
input is positional; commands that refuse an existing output take ``--overwrite``. Former spellings (``--accelerator``, ``--num-workers``, ``--data``,
``--image-size``, ``--patch``) are still accepted but hidden from ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

T = TypeVar("T")


def _check_device(value: str | None) -> str | None:
    """``--device`` checked: auto, cpu, gpu or not given."""
    if value is not None and value not in ("auto", "cpu", "gpu"):
        raise typer.BadParameter(f"{value!r} is not a device; use auto, cpu or gpu.")
    return value


Device = Annotated[
    str | None,
    typer.Option(
        help="auto (the GPU when one is visible), cpu or gpu.",
        show_default="auto",
        callback=lambda value: _check_device(value),
    ),
]
Devices = Annotated[
    int | None,
    typer.Option(help="Devices (processes) per machine; DDP when > 1.", show_default="1"),
]
Workers = Annotated[
    int | None, typer.Option(help="Data-loading worker processes.", show_default="0")
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing OUT.")]
FormerDevice = Annotated[str | None, typer.Option("--accelerator", hidden=True)]
FormerWorkers = Annotated[int | None, typer.Option("--num-workers", hidden=True)]
FormerData = Annotated[Path | None, typer.Option("--data", hidden=True)]


def precision_option(default: str) -> Any:
    """``--precision`` with the trainer's default shown."""
    return typer.Option(
        help="32-true, bf16-mixed or 16-mixed (auto: bf16-mixed on a GPU that supports it).",
        show_default=default,
    )


def either(value: T | None, former: T | None, option: str, former_option: str) -> T | None:
    """The value given as ``option`` or under its former name ``former_option`` (not both)."""
    if value is not None and former is not None and value != former:
        raise typer.BadParameter(f"give {option} only (it replaces {former_option}).")
    return value if value is not None else former


def required_input(value: Path | None, former: Path | None, name: str) -> Path:
    """The main input, given positionally (or with the former ``--data``)."""
    path = either(value, former, name, "--data")
    if path is None:
        raise typer.BadParameter(f"missing {name}: give it as the first argument.")
    return path


def int_list(value: str | None, option: str, example: str = "32,64,128") -> tuple[int, ...] | None:
    """A comma-separated list of integers given as ``option`` (``"32,64,128"``), or None."""
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{option} {value!r} is not a list of integers; give e.g. {option} {example}."
        ) from None
