"""The README's diffusion command-line chain runs as written, with smaller sizes.

Every command of the block reads only files an earlier command of the block wrote; the test
runs the ``eoforge`` commands in a temporary folder, in order, with the same commands, options
and file names, shrinking only the sizes (imagettes, steps, T, samples) by :func:`shrink`.
"""

import json
import re

import pytest
import torch

from tests.test_readme import README, readme_commands, run_all

torch.set_num_threads(1)
HEADING = "#### Command line"
T_README, T_TEST = 400, 20


def _steps(value: str) -> str:
    """Sampling steps scaled from T=400 to T=20 (all T stays all T; at least 3 for heun)."""
    v = int(value)
    return str(T_TEST if v == T_README else max(3, round(v * T_TEST / T_README)))


def shrink(args: list[str]) -> list[str]:
    """The same command with small sizes (only option values change)."""
    out = list(args)
    train = args[:2] == ["diffusion", "train"]
    for i, opt in enumerate(args[:-1]):
        value = args[i + 1]
        if opt == "--n":
            out[i + 1] = "32" if args[:2] == ["sar", "synth-wv"] else "4"
        elif opt == "--steps" and train:
            out[i + 1] = str(int(value) // 100)  # 200 -> 2, then 300 -> 3 (a resume)
        elif opt == "--timesteps":
            out[i + 1] = str(T_TEST)
        elif opt == "--batch-size":
            out[i + 1] = "8"
        elif opt == "--sample-steps":
            out[i + 1] = _steps(value)
        elif opt == "--configs":
            out[i + 1] = ",".join(
                f"{name}:{_steps(k)}" for name, k in (c.split(":") for c in value.split(","))
            )
    return out


def _heredocs(folder):
    """Write the files the block makes with ``cat > NAME <<'EOF' ... EOF``."""
    text = README.read_text()
    block = re.search(r"```bash\n(.*?)```", text[text.index(HEADING) :], re.S).group(1)
    for name, body in re.findall(r"cat > (\S+) <<'EOF'\n(.*?)\nEOF\n", block, re.S):
        (folder / name).write_text(body + "\n")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_readme_diffusion_chain_runs_as_written(tmp_path, monkeypatch):
    cmds = readme_commands(HEADING)
    assert [c[:2] for c in cmds] == [
        ["sar", "synth-wv"], ["sar", "synth-wv"], ["diffusion", "train"], ["diffusion", "train"],
        ["diffusion", "sample"], ["diffusion", "sample"], ["diffusion", "evaluate"],
        ["diffusion", "compare-samplers"],
    ]  # fmt: skip
    _heredocs(tmp_path)
    assert (tmp_path / "tiny.yaml").is_file()
    outputs = run_all([shrink(c) for c in cmds], tmp_path, monkeypatch)
    assert json.loads((tmp_path / "runs/wv/manifest.json").read_text())["resumed"] is True
    assert json.loads((tmp_path / "runs/wv/metrics.json").read_text())["steps"] == 3
    for name in ("runs/wv/report.html", "samples.npy", "samples_ddpm.zarr",
                 "runs/eval/report.html", "runs/compare/report.html"):  # fmt: skip
        assert (tmp_path / name).exists(), name
    rows = json.loads((tmp_path / "runs/compare/rows.json").read_text())
    assert (rows[0]["sampler"], rows[0]["nfe"]) == ("ddpm", T_TEST) and len(rows) == 8
    assert "memo_" in outputs[6]  # --training adds the memorisation check
