import re

from typer.testing import CliRunner

from eoforge import __version__
from eoforge.cli.main import app

runner = CliRunner()


def flat(text: str) -> str:
    """CLI output with rich's box drawing and line wrapping removed."""
    return re.sub(r"[\s│╭╮╰╯─]+", " ", text)


def test_help_lists_sub_apps():
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for name in ("extremes", "ssl", "diffusion", "methane", "sar", "demo"):
        assert name in res.output


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"eoforge {__version__}"


def test_unknown_command_and_option():
    res = runner.invoke(app, ["nope"])
    assert res.exit_code == 2 and "No such command" in flat(res.output)
    res = runner.invoke(app, ["demo", "--bogus"])
    assert res.exit_code == 2 and "No such option" in flat(res.output)
    res = runner.invoke(app, ["demo", "--seed", "abc"])
    assert res.exit_code == 2 and "Invalid value for '--seed'" in flat(res.output)
