"""Every command's --help, checked for one vocabulary across the sub-apps."""

import pytest
import typer.main
from typer.testing import CliRunner

from eoforge.cli.main import app

TRAINERS = {
    ("ssl", "pretrain"): {"--device", "--devices", "--precision", "--workers"},
    ("methane", "train"): {"--device", "--devices", "--precision", "--workers"},
    # one device: images, batches and noise live on it, so no loader workers or DDP
    ("diffusion", "train"): {"--device", "--precision"},
}
FORMER = {"--accelerator", "--num-workers", "--image-size", "--patch", "--data"}


def _commands(cmd=None, path=()):
    cmd = cmd or typer.main.get_command(app)
    subs = getattr(cmd, "commands", None)
    if not subs:
        yield path, cmd
        return
    for name, sub in subs.items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands())


def _visible_options(cmd):
    return [p for p in cmd.params if p.param_type_name == "option" and not p.hidden]


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_help_works_and_speaks_one_vocabulary(path):
    res = CliRunner().invoke(app, [*path, "--help"])
    assert res.exit_code == 0, res.output
    cmd = COMMANDS[path]
    names = {o for p in _visible_options(cmd) for o in p.opts}
    assert not names & FORMER, f"{path}: former option names shown: {names & FORMER}"
    if path in TRAINERS:
        assert TRAINERS[path] <= names, f"{path} lacks {TRAINERS[path] - names}"
    for param in _visible_options(cmd):
        if "--steps" in param.opts:  # one meaning: optimiser steps
            assert "Optimiser steps" in param.help, path
        if param.is_flag or param.required or param.name == "help":
            continue
        shown = param.default is not None or isinstance(param.show_default, str)
        said = "default" in (param.help or "").lower()
        optional_path = param.name in {"config", "weights", "init", "examples", "labels"}
        assert shown or said or optional_path or "(" in (param.help or ""), (
            f"{' '.join(path)} {param.opts[0]}: no default shown in --help"
        )
    for param in cmd.params:  # main inputs are positional
        if param.name in {"data", "input", "inputs", "run", "target", "samples"}:
            assert param.param_type_name == "argument", f"{path}: {param.name} is not positional"


def _shown(path, option):
    (param,) = [p for p in COMMANDS[path].params if option in getattr(p, "opts", ())]
    return param.show_default


def test_shown_defaults_are_the_configs_defaults():
    from eoforge.curation.dynamic import CurationConfig
    from eoforge.diffusion.training.config import DiffusionConfig
    from eoforge.methane.detector.training.config import DetectorConfig
    from eoforge.ssl.pretrain import SSLConfig

    ssl, cur = SSLConfig(), CurationConfig()
    diff, det = DiffusionConfig(), DetectorConfig()
    expected = {
        ("ssl", "pretrain"): {
            "--epochs": ssl.epochs, "--encoder": ssl.encoder, "--batch-size": ssl.batch_size,
            "--lr": ssl.lr, "--device": ssl.accelerator, "--devices": ssl.devices,
            "--num-nodes": ssl.num_nodes, "--precision": ssl.precision,
            "--global-size": ssl.global_size, "--local-size": ssl.local_size,
            "--n-local-crops": ssl.n_local_crops, "--ratio": cur.ratio,
            "--warmup-epochs": cur.warmup_epochs, "--refresh-every": cur.refresh_every,
            "--n-clusters": ",".join(map(str, cur.n_clusters)), "--eta": cur.eta,
            "--workers": ssl.num_workers, "--seed": ssl.seed,
        },
        ("diffusion", "train"): {
            "--steps": diff.steps, "--batch-size": diff.batch_size,
            "--accumulate": diff.accumulate, "--timesteps": diff.num_timesteps, "--lr": diff.lr,
            "--ema-decay": diff.ema_decay, "--seed": diff.seed, "--device": diff.accelerator,
            "--precision": diff.precision,
        },
        ("methane", "train"): {
            "--steps": det.steps, "--batch-size": det.batch_size, "--size": det.patch,
            "--lr": det.lr, "--device": det.device, "--devices": det.devices,
            "--precision": det.precision, "--workers": det.num_workers, "--seed": det.seed,
        },
    }  # fmt: skip
    for path, options in expected.items():
        for option, value in options.items():
            shown = _shown(path, option)
            if isinstance(value, float):
                assert float(shown) == value, (path, option, shown, value)
            else:
                assert shown == str(value), (path, option, shown, value)


def test_former_spellings_still_work_but_not_together_with_the_new_ones(tmp_path):
    res = CliRunner().invoke(app, ["methane", "train", "--size", "64", "--patch", "96",
                                   "--out", str(tmp_path / "r")])  # fmt: skip
    assert res.exit_code == 2 and "give --size only" in res.output
    res = CliRunner().invoke(app, ["ssl", "pretrain", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "missing DATA" in res.output
    assert not (tmp_path / "r").exists()
    res = CliRunner().invoke(app, ["ssl", "pretrain", "--data", str(tmp_path / "no.zarr"),
                                   "--accelerator", "cpu", "--out", str(tmp_path / "r")])  # fmt: skip
    assert res.exit_code == 2 and "no.zarr" in res.output


@pytest.mark.parametrize(
    "args",
    [
        ["methane", "train", "--device", "gpu", "--steps", "1"],
        ["ssl", "pretrain", "x.zarr", "--device", "gpu"],
    ],
    ids=["methane", "ssl"],
)
def test_gpu_without_a_gpu_is_refused_before_anything_is_made(args, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    res = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 2
    assert "no CUDA device is visible" in res.output or "x.zarr" in res.output
    assert not out.exists()
