"""One line and exit code 2 for bad input to ``eoforge diffusion`` (files, numbers, steps > T)."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from eoforge.diffusion.model import UNetConfig
from eoforge.diffusion.training.train import DiffusionConfig, train
from tests.sar.bad_stores import make_bad_stores

torch.set_num_threads(1)
runner = CliRunner()
T = 20


def invoke(*args: str):
    from eoforge.cli.main import app

    return runner.invoke(app, ["diffusion", *map(str, args)])


def one_error_line(res) -> str:
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run with T = 20 and its reference images."""
    folder = tmp_path_factory.mktemp("diffusion-cli")
    images = np.random.default_rng(0).gamma(4, 0.25, (8, 8, 8)).astype(np.float32)
    np.save(folder / "ref.npy", images)
    unet = UNetConfig(image_size=8, block_out_channels=(8, 16), attention_levels=(),
                      norm_num_groups=4)  # fmt: skip
    cfg = DiffusionConfig(unet=unet, num_timesteps=T, steps=1, batch_size=4,
                          checkpoint_every=0, sample_n=2, sample_steps=2)  # fmt: skip
    return train(cfg, images, out=folder / "run"), folder / "ref.npy"


def _option(command: str, *spellings: str) -> str:
    """The first of ``spellings`` that ``eoforge diffusion COMMAND`` accepts (options get renamed
    for one vocabulary across the CLI)."""
    import typer.main

    from eoforge.cli.main import app

    group = typer.main.get_command(app).commands["diffusion"]
    names = {o for p in group.commands[command].params for o in p.opts}
    return next(s for s in spellings if s in names)


def test_compare_samplers_refuses_more_steps_than_trained_like_sample(trained, tmp_path):
    run, ref = trained
    steps = _option("sample", "--sample-steps", "--steps")
    sample = invoke("sample", run, steps, 2 * T, "--out", tmp_path / "s.npy")
    compare = invoke("compare-samplers", run, "--reference", ref, "--configs",
                     f"ddpm:{2 * T},dpm++:5", "--no-features", "--out", tmp_path / "c")  # fmt: skip
    line = one_error_line(sample)
    # one shared check, one message; each names what its user typed
    assert one_error_line(compare) == line.replace("--sample-steps=", "--configs steps=")
    assert f"--sample-steps={2 * T} is invalid" in line and f"T={T}" in line
    assert not (tmp_path / "c").exists() and not (tmp_path / "s.npy").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--n", "1"), "n"),
        (("--batch-size", "0"), "--batch-size"),  # was a traceback from range()
        (("--configs", "ddpm:-2"), "SAMPLER:STEPS"),  # was a multi-line usage box
        (("--configs", "ddpm:0"), "steps=0"),
    ],
)
def test_compare_samplers_numbers(trained, tmp_path, args, expected):
    run, ref = trained
    res = invoke("compare-samplers", run, "--reference", ref, "--no-features", "--n", "4",
                 "--configs", "ddpm:4", *args, "--out", tmp_path / "c")  # fmt: skip
    assert expected in one_error_line(res)
    assert not (tmp_path / "c").exists()


def test_compare_samplers_default_configs_follow_the_trained_T(trained, tmp_path):
    from eoforge.diffusion.evaluation.compare import default_configs

    assert default_configs(T)[0] == ("ddpm", T)
    assert all(steps <= T for _, steps in default_configs(T))
    assert default_configs(1000)[0] == ("ddpm", 1000)


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("--steps", "-1"), "steps"),
        (("--steps", "0"), "steps"),
        (("--batch-size", "0"), "batch_size"),
        (("--accumulate", "0"), "accumulate"),
        (("--timesteps", "0"), "num_timesteps"),
        (("--lr", "-1"), "lr"),
        (("--ema-decay", "1"), "ema_decay"),
        (("--checkpoint-every", "-1"), "checkpoint_every"),
        (("--sample-every", "-1"), "sample_every"),
        (("--image-size", "0"), "image_size=0"),  # 0 was taken as "the images' size"
    ],
)
def test_train_numbers(trained, tmp_path, args, key):
    _, ref = trained
    res = invoke("train", "--data", ref, "--out", tmp_path / "r", "--timesteps", T,
                 "--batch-size", 4, "--steps", 1, *args)  # fmt: skip
    line = one_error_line(res)
    assert f"{args[0]}:" in line or f"{key}:" in line or key in line.split(": ", 2)[-1], line
    assert not (tmp_path / "r").exists()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-data")
    out = make_bad_stores(folder)
    good = np.ones((4, 8, 8), np.float32)
    np.save(folder / "good.npy", good)
    (folder / "garbage.npy").write_bytes(b"not a numpy file at all" * 20)
    (folder / "truncated.npy").write_bytes((folder / "good.npy").read_bytes()[:150])
    out.update(garbage_npy=folder / "garbage.npy", truncated_npy=folder / "truncated.npy")
    return out


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated_npz", "truncated or damaged"),
        ("garbage_npz", "is not a .npz file"),
        ("garbage_npy", "is not a .npy file"),
        ("truncated_npy", "truncated or damaged"),
        ("corrupt_chunks", "corrupt or missing chunks"),
        ("no_metadata", "no zarr.json"),
    ],
)
def test_train_on_a_broken_file_says_so_in_one_line(bad_files, tmp_path, name, expected):
    path = bad_files[name]
    line = one_error_line(invoke("train", "--data", path, "--out", tmp_path / "r", "--steps", 1))
    assert expected in line and repr(str(path)) in line  # names the file and what is wrong
    assert not (tmp_path / "r").exists()


def test_evaluate_on_a_broken_file_says_so_in_one_line(bad_files, tmp_path):
    line = one_error_line(invoke("evaluate", bad_files["truncated_npz"], "--reference",
                                 bad_files["garbage_npy"], "--out", tmp_path / "e"))  # fmt: skip
    assert "truncated_npz" in line or "truncated.npz" in line


@pytest.mark.parametrize(("every", "saved_at"), [(0, [3]), (1, [1, 2, 3]), (2, [2, 3])])
def test_checkpoint_every_zero_means_only_at_the_end(tmp_path, monkeypatch, every, saved_at):
    from eoforge.diffusion.training.module import AtomicCheckpointIO

    steps_saved = []
    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint",
                        lambda self, ckpt, path, storage_options=None:
                        steps_saved.append(ckpt["global_step"]))  # fmt: skip
    images = np.random.default_rng(0).gamma(4, 0.25, (8, 8, 8)).astype(np.float32)
    unet = UNetConfig(image_size=8, block_out_channels=(8, 16), attention_levels=(),
                      norm_num_groups=4)  # fmt: skip
    cfg = DiffusionConfig(unet=unet, num_timesteps=T, steps=3, batch_size=4,
                          checkpoint_every=every, sample_n=2, sample_steps=2)  # fmt: skip
    train(cfg, images, out=tmp_path / "run")
    assert steps_saved == saved_at
