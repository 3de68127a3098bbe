"""The README's methane section runs as written.

Commands documented at test size (``simulate``/``detect`` of "Try it") run as written and print
what the README shows; the Python blocks print their documented output. Commands documented at
full size (``train`` 1000 steps, ``evaluate`` 40-120 scenes, ``calibrate`` 400 scenes) run as
written through the CLI - every option parsed and validated, weights loaded - and the work behind
them runs on a reduced set of scenes (the config the CLI built is checked against the command).
"""

import json
import re
import shlex
import shutil
import stat
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHIPPED = ROOT / "src" / "eoforge" / "methane" / "weights"


def section() -> str:
    text = README.read_text()
    start = text.index("## Methane plume detection")
    return text[start : text.index("\n## ", start + 10)]


def blocks() -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced block of the methane section, in order."""
    return re.findall(r"```(\w*)\n(.*?)```", section(), re.S)


def block_after(marker: str, lang: str) -> str:
    """The first block of language ``lang`` after the text ``marker``."""
    text = section()
    return re.search(rf"```{lang}\n(.*?)```", text[text.index(marker) :], re.S).group(1)


def commands(body: str) -> list[list[str]]:
    """``eoforge`` commands of a bash block (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = (line.split(" #")[0].strip() for line in joined.splitlines())
    return [shlex.split(line)[1:] for line in lines if line.startswith("eoforge ")]


def run(args: list[str]):
    from eoforge.cli.main import app

    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, f"eoforge {' '.join(args)}\n{res.output}"
    return res


def exec_block(code: str, capsys) -> str:
    exec(compile(code, "README.md", "exec"), {})
    return capsys.readouterr().out


def test_every_methane_block_is_covered():
    """A new block in the section must get a test here (or be a documented exception)."""
    langs = [lang for lang, _ in blocks()]
    # the "### Monitoring" block is run in tests/methane/monitor/test_run.py
    assert langs.count("bash") == 5 and langs.count("python") == 5, langs


def test_try_it_runs_as_written_and_prints_the_documented_table(tmp_path, monkeypatch):
    cmds = commands(block_after("### Try it on a simulated pair", "bash"))
    assert [c[:2] for c in cmds] == [["methane", "simulate"], ["methane", "detect"]]
    monkeypatch.chdir(tmp_path)
    run(cmds[0])
    out = run(cmds[1]).stdout
    printed = block_after("`detect` prints the plume table", "")
    table, last = printed.rsplit("]\n", 1)
    documented = json.loads(table + "]")
    got = json.loads(out[: out.rindex("]") + 1])
    assert len(got) == len(documented) == 1
    for key, value in documented[0].items():
        assert got[0][key] == pytest.approx(value, rel=1e-3, abs=1e-9), key
    assert out.strip().splitlines()[-1] == last.strip()
    for name in ("report.html", "plumes.geojson", "detection.png"):
        assert (tmp_path / "runs" / "ch4-detect" / name).is_file()
    # the status section quotes the same estimate
    p = documented[0]
    assert f"estimated at {p['rate_kg_h']:.0f} ± {p['sigma_kg_h']:.0f} kg/h" in section()


def test_python_detect_block_runs_as_written(tmp_path, monkeypatch, capsys):
    from eoforge.methane.pair_files import simulate_to_files

    simulate_to_files(tmp_path, rate_kg_h=2000.0, seed=11, shape=128)
    monkeypatch.chdir(tmp_path)
    code = block_after("In Python:", "python")
    lines = exec_block(code, capsys).strip().splitlines()
    doc = json.loads((tmp_path / "runs" / "ch4-detect" / "plumes.geojson").read_text())
    assert len(lines) == len(doc["features"]) >= 1


@pytest.mark.parametrize(
    ("marker", "output_marker"),
    [("import numpy as np\nfrom eoforge.methane.scenes", "```\n['B02'"),
     ("from eoforge.methane.calibration.effective_wind", "```\nU_eff"),
     ("from eoforge.io.raster import GeoInfo", "```\n['B11'")],
)  # fmt: skip
def test_python_blocks_print_their_documented_output(marker, output_marker, tmp_path, monkeypatch,
                                                      capsys):  # fmt: skip
    text = section()
    code = re.search(r"(.*?)```", text[text.index(marker) :], re.S).group(1)
    expected = re.search(r"```\n(.*?)```", text[text.index(output_marker) :], re.S).group(1)
    monkeypatch.chdir(tmp_path)
    assert exec_block(code, capsys) == expected


def test_safe_block_names_real_functions():
    """Not runnable without a downloaded L1C product: its names must exist."""
    code = block_after("With a downloaded L1C product", "python")
    from eoforge.io import sentinel2, sentinel2_safe

    assert "read_s2_safe(" in code and callable(sentinel2.read_s2_safe)
    assert "safe_metadata(" in code and callable(sentinel2_safe.safe_metadata)


@pytest.fixture
def small_evaluations(monkeypatch):
    """Record each evaluation's config and run it on 1 plume-free + 1 plume 64 px scene."""
    from eoforge.methane.evaluate import benchmark as ev

    real, seen = ev.evaluate_detector, []

    def reduced(config, out=None, model=None, progress=None):
        seen.append(config)
        small = config.model_copy(update={"n_negative": 1, "n_per_rate": 1, "shape": 64,
                                          "rates": (5000.0,)})  # fmt: skip
        return real(small, out, model=model, progress=progress)

    monkeypatch.setattr(ev, "evaluate_detector", reduced)
    return seen


def test_train_and_evaluate_commands_run_as_written(tmp_path, monkeypatch, small_evaluations):
    cmds = commands(block_after("### Train and evaluate", "bash"))
    assert [c[:2] for c in cmds] == [["methane", "train"]] + [["methane", "evaluate"]] * 6
    monkeypatch.chdir(tmp_path)
    train = cmds[0] + ["--steps", "2"]  # the documented 1000 steps, cut to 2
    run(train)
    assert (tmp_path / "runs" / "ch4-train" / "report.html").is_file()
    for args in cmds[1:]:
        run(args)
        out = tmp_path / args[args.index("--out") + 1]
        assert (out / "report.html").is_file() and (out / "plumes.json").is_file()
    by_out = {args[args.index("--out") + 1]: c
              for c, args in zip(small_evaluations, cmds[1:], strict=True)}  # fmt: skip
    assert by_out["runs/ch4-eval"].n_negative == 40 and by_out["runs/ch4-eval"].n_per_rate == 8
    assert by_out["runs/ch4-eval-desert"].surfaces == ("desert",)
    assert by_out["runs/ch4-eval-inflight"].noise_scale == 0.5
    assert by_out["runs/ch4-eval-hard"].confounders_max == 3
    assert by_out["runs/ch4-eval-hard"].cloud_prob == 0.3
    assert by_out["runs/ch4-eval-sure"].fp_confidence == 0.9
    shipped = json.loads((SHIPPED / "detector.json").read_text())
    assert by_out["runs/ch4-eval-shipped"].threshold == pytest.approx(shipped["threshold"])


def test_gpu_recipe_names_the_script_and_its_variables():
    """The GPU line needs a GPU; the script it names must exist and read those variables."""
    line = block_after("Longer training on a GPU", "bash").strip()
    env, script = line.split(" scripts/")
    path = ROOT / "scripts" / script
    assert path.is_file() and path.stat().st_mode & stat.S_IXUSR
    body = path.read_text()
    for assignment in env.split():
        name = assignment.split("=")[0]
        assert re.search(rf"\b{name}\b", body), name


def test_calibrate_commands_run_as_written(tmp_path, monkeypatch, small_evaluations):
    from eoforge.methane.calibration import detector as cal

    real, real_rates, seen = cal.calibrate_detector, cal.calibrate_detector_rates, []

    def reduced(detector, **kwargs):
        seen.append(kwargs)
        return real(detector, **kwargs | {"n_negative": 2, "size": 64, "n_rate_cases": 4})

    def strong_plumes(*args, **kwargs):  # 4 plumes the detector finds, enough for the U_eff fit
        return real_rates(*args, **kwargs, rate_range=(8000.0, 10000.0))

    monkeypatch.setattr(cal, "calibrate_detector", reduced)
    monkeypatch.setattr(cal, "calibrate_detector_rates", strong_plumes)
    cmds = commands(block_after("Then calibrate the new weights", "bash"))
    assert [c[:2] for c in cmds] == [["methane", "calibrate"]] * 2 + [["methane", "evaluate"]]
    (tmp_path / "OUT").mkdir()
    for name in ("detector.safetensors", "detector.json"):
        shutil.copy(SHIPPED / name, tmp_path / "OUT" / name)
    monkeypatch.chdir(tmp_path)
    for args in cmds:
        run(args)
    assert [s["n_negative"] for s in seen] == [400, 400] and seen[0]["size"] == 256
    assert seen[0]["fp_confidence"] is None and seen[1]["fp_confidence"] == 0.9
    assert small_evaluations[-1].weights == "OUT/detector.safetensors"
    calibrated = json.loads((tmp_path / "OUT" / "detector.json").read_text())
    assert "threshold" in calibrated["calibration"]
