"""The ``eoforge`` command: one sub-app per capability plus ``demo``.

The CLI only parses arguments, calls the Python API and prints; no logic lives here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eoforge import __version__
from eoforge.cli._common import fail_on_error
from eoforge.cli.diffusion import app as diffusion_app
from eoforge.cli.extremes import app as extremes_app
from eoforge.cli.methane import app as methane_app
from eoforge.cli.sar import app as sar_app
from eoforge.cli.ssl import app as ssl_app

app = typer.Typer(
    name="eoforge",
    help="Earth-observation and climate ML: SAR SSL, SAR/InSAR diffusion, methane, extremes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(extremes_app, name="extremes")
app.add_typer(ssl_app, name="ssl")
app.add_typer(diffusion_app, name="diffusion")
app.add_typer(methane_app, name="methane")
app.add_typer(sar_app, name="sar")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"eoforge {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """eoforge: four published Earth-observation and climate ML systems in one toolkit."""


@app.command()
@fail_on_error
def demo(
    out: Annotated[Path, typer.Option(help="Folder of the demo run.")] = Path("runs/demo"),
    seed: Annotated[int, typer.Option(help="Seed of every generator in the demo.")] = 0,
) -> None:
    """Run every capability on built-in generated data and write OUT/report.html."""
    from eoforge.demo import run_demo  # deferred: the demo loads every capability (torch)

    report = run_demo(out, seed=seed)
    typer.echo(f"demo report: {report}")
