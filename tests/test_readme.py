"""The README's command-line examples run as written (in a temporary folder)."""

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eoforge.cli.main import app

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands(heading: str) -> list[list[str]]:
    """The ``eoforge ...`` commands of the first ```bash block under ``heading``.

    Continuation lines (ending in a backslash) are joined and comments dropped.
    """
    text = README.read_text()
    start = text.index(heading)
    block = re.search(r"```bash\n(.*?)```", text[start:], re.S)
    assert block, f"no bash block under {heading!r}"
    joined = re.sub(r"\\\n\s*", " ", block.group(1))
    commands = []
    for line in joined.splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("eoforge "):
            commands.append(shlex.split(line)[1:])
    return commands


def run_all(commands: list[list[str]], folder: Path, monkeypatch) -> list[str]:
    monkeypatch.chdir(folder)
    outputs = []
    for args in commands:
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, f"eoforge {' '.join(args)}\n{res.output}"
        outputs.append(res.output)
    return outputs


def test_parser_joins_continuations_and_drops_comments():
    cmds = readme_commands("### Try it on simulated data")
    assert cmds[0][:2] == ["extremes", "simulate"]
    assert all(not any(a.startswith("#") for a in c) for c in cmds)
    assert any("--method" in c and "--out" in c for c in cmds)  # a joined continuation


def test_extremes_readme_commands_run_as_written(tmp_path, monkeypatch):
    cmds = readme_commands("### Try it on simulated data")
    assert [c[:2] for c in cmds] == [["extremes", "simulate"], ["extremes", "cluster"],
                                     ["extremes", "consensus"], ["extremes", "attribute"]]  # fmt: skip
    run_all(cmds, tmp_path, monkeypatch)
    for run in ("runs/extremes-one", "runs/extremes-consensus", "runs/extremes-da"):
        assert (tmp_path / run / "report.html").is_file()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_ssl_readme_workflow_runs_as_written(tmp_path, monkeypatch):
    cmds = readme_commands("### Workflow")
    assert [c[:2] for c in cmds] == [["sar", "synth-wv"], ["ssl", "pretrain"], ["ssl", "probe"],
                                     ["ssl", "embed"]]  # fmt: skip
    run_all(cmds, tmp_path, monkeypatch)
    for name in ("runs/dino/report.html", "runs/dino/probe.json", "emb.zarr"):
        assert (tmp_path / name).exists(), name


def test_sar_readme_commands_run_as_written(tmp_path, monkeypatch):
    """All but the 100,000-imagette store (minutes) and the imports of the user's own folders."""
    cmds = readme_commands("## SAR wave-mode imagettes")
    runnable = [c for c in cmds if c[1] != "import" and "100000" not in c]
    assert len(cmds) - len(runnable) == 3
    outputs = run_all(runnable, tmp_path, monkeypatch)
    assert (tmp_path / "examples.png").is_file() and (tmp_path / "wv_uniform.zarr").exists()
    assert "imagettes: 1000 of 64x64 pixels" in outputs[-1]
