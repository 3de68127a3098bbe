"""The decorator every command wears: exit 2 on bad input, 130 on Ctrl-C, no half-made run folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from eoforge.cli._common import fail_on_error
from eoforge.core.errors import InputError


def _app(behaviour):
    app = typer.Typer()

    @app.command()
    @fail_on_error
    def run(out: Annotated[Path, typer.Option()], checkpoint: bool = False) -> None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.yaml").write_text("seed: 0\n")
        (out / "figures").mkdir(exist_ok=True)
        if checkpoint:
            (out / "checkpoints").mkdir(exist_ok=True)
            (out / "checkpoints" / "last.ckpt").write_bytes(b"state")
        behaviour()

    @app.command()
    def other() -> None:  # a second command, so that `run` keeps its name
        pass

    return app


def _bad_input():
    raise InputError("--n-sim=-1 is invalid: expected >= 0.")


def _ctrl_c():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1)  # the handler raises KeyboardInterrupt here


def _ctrl_c_caught_by_a_library():
    """Lightning catches KeyboardInterrupt in fit and calls exit(1) after a graceful shutdown."""
    try:
        _ctrl_c()
    except KeyboardInterrupt:
        sys.exit(1)


def test_failed_run_removes_the_folder_it_created(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(_app(_bad_input), ["run", "--out", str(out)])
    assert res.exit_code == 2
    assert res.output.strip() == "error: --n-sim=-1 is invalid: expected >= 0."
    assert not out.exists()


def test_failed_run_keeps_a_folder_that_existed_or_holds_a_checkpoint(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "mine.txt").write_text("keep")
    assert CliRunner().invoke(_app(_bad_input), ["run", "--out", str(old)]).exit_code == 2
    assert (old / "mine.txt").read_text() == "keep"
    new = tmp_path / "new"
    res = CliRunner().invoke(_app(_bad_input), ["run", "--out", str(new), "--checkpoint"])
    assert res.exit_code == 2 and (new / "checkpoints" / "last.ckpt").is_file()


def test_failed_run_in_an_empty_folder_empties_it_again_and_keeps_it(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert CliRunner().invoke(_app(_bad_input), ["run", "--out", str(out)]).exit_code == 2
    assert out.is_dir() and not any(out.iterdir())


def test_unexpected_error_also_removes_the_new_folder(tmp_path):
    out = tmp_path / "run"

    def crash():
        raise RuntimeError("boom")

    res = CliRunner().invoke(_app(crash), ["run", "--out", str(out)])
    assert res.exit_code == 1 and isinstance(res.exception, RuntimeError)
    assert not out.exists()


@pytest.mark.parametrize("behaviour", [_ctrl_c, _ctrl_c_caught_by_a_library])
def test_ctrl_c_exits_130_and_says_how_to_go_on(tmp_path, behaviour):
    out = tmp_path / "run"
    res = CliRunner().invoke(_app(behaviour), ["run", "--out", str(out)])
    assert res.exit_code == 130
    assert "interrupted; rerun the same command to start again." in res.output
    assert not out.exists()
    res = CliRunner().invoke(_app(behaviour), ["run", "--out", str(out), "--checkpoint"])
    assert res.exit_code == 130
    assert "interrupted; rerun the same command to resume." in res.output
    assert (out / "checkpoints" / "last.ckpt").is_file()


def test_exit_1_without_ctrl_c_is_not_called_an_interruption(tmp_path):
    res = CliRunner().invoke(_app(lambda: sys.exit(1)), ["run", "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and "interrupted" not in res.output


def test_ctrl_c_during_real_training_exits_130_and_the_rerun_resumes(tmp_path):
    """SIGINT to `eoforge diffusion train` once a checkpoint exists: exit 130, then resume."""
    data = tmp_path / "x.npy"
    np.save(data, np.random.default_rng(0).random((16, 8, 8), dtype=np.float32) + 0.5)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "eoforge", "diffusion", "train", "--data", str(data),
           "--out", str(out), "--steps", "100000", "--batch-size", "2",
           "--checkpoint-every", "2", "--timesteps", "20"]  # fmt: skip
    env = {**os.environ, "EOFORGE_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            text=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while not (out / "checkpoints" / "last.ckpt").is_file() and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted; rerun the same command to resume."
    assert "Traceback" not in err
