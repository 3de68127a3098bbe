"""``python -m eoforge`` runs the command-line tool."""

from eoforge.cli.main import app

app(prog_name="eoforge")
