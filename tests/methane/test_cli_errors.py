"""The methane commands' errors name the option the user typed (``--size``, ``--workers``), never
an internal key (``shape``, ``num_workers``, ``min_area_px``), in one line with exit code 2."""

import re

import pytest
from typer.testing import CliRunner

from eoforge.methane.pair_files import simulate_to_files

runner = CliRunner()
WEIGHTS = "src/eoforge/methane/weights/detector.safetensors"
INTERNAL = ("shape", "num_workers", "min_area_px", "wind_speed", "n_negative", "n_per_rate",
            "fp_budget", "grow_px", "n_rate_cases", "cloud_prob", "max_context_change", "patch",
            "batch_size", "surfaces")  # fmt: skip


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    out = tmp_path_factory.mktemp("pair")
    simulate_to_files(out, rate_kg_h=0.0, seed=3, shape=64)
    return out


CASES = [
    (["evaluate", "--size", "10"], ["--size"]),
    (["evaluate", "--n-negative", "0", "--fp-budget", "0"], ["--n-negative", "--fp-budget"]),
    (["evaluate", "--cloud-prob", "2"], ["--cloud-prob"]),
    (["evaluate", "--max-context-change", "-1"], ["--max-context-change"]),
    (["evaluate", "--n-negative", "1", "--n-per-rate", "1", "--size", "64", "--surface", "moon"],
     ["--surface='moon'"]),
    (["simulate", "--size", "0"], ["--size=0"]),
    (["simulate", "--rate", "-5"], ["--rate=-5.0"]),
    (["calibrate", WEIGHTS, "--size", "10"], ["--size=10"]),
    (["calibrate", WEIGHTS, "--grow", "-1"], ["--grow=-1"]),
    (["calibrate", WEIGHTS, "--n-rate-cases", "0"], ["--n-rate-cases=0"]),
    (["train", "--workers", "-1"], ["--workers"]),
    (["train", "--size", "8", "--batch-size", "0"], ["--size", "--batch-size"]),
    (["detect", "{target}", "--reference", "{reference}", "--min-area", "0"], ["--min-area=0"]),
    (["detect", "{target}", "--reference", "{reference}", "--wind-speed", "0"],
     ["--wind-speed=0.0"]),
    (["detect", "{target}", "--reference", "{reference}", "--max-context-change", "-1"],
     ["--max-context-change=-1.0"]),
    (["detect", "{target}", "--reference", "{reference}", "--tile", "8"], ["--tile=8"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "options"), CASES, ids=lambda v: " ".join(v)[:40])
def test_errors_name_the_typed_option(pair, tmp_path, args, options):
    from eoforge.cli.main import app

    args = [a.format(target=pair / "target.tif", reference=pair / "reference.tif") for a in args]
    res = runner.invoke(app, ["methane", *args, "--out", str(tmp_path / "out")]
                        if args[0] != "calibrate" else ["methane", *args])  # fmt: skip
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    for option in options:
        assert option in lines[0], lines[0]
    words = set(re.findall(r"[A-Za-z_.]+", lines[0].split("expected")[0]))
    assert not words & set(INTERNAL), lines[0]
    assert not (tmp_path / "out").exists()
