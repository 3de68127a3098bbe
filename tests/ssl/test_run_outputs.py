"""What a pre-training run leaves for the user: report.html with its figures, probe.json saying
what was probed, and outputs that are never replaced without --overwrite."""

import base64
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from eoforge.curation.dynamic import CurationConfig
from eoforge.sar.store import save_wv
from eoforge.sar.wv import synth_wv
from eoforge.ssl.dino import DINOLoss, collapse_stats
from eoforge.ssl.pretrain import SSLConfig, pretrain
from eoforge.ssl.pretrain_report import curve_table, describe_curves

torch.set_num_threads(1)
runner = CliRunner()

TINY = dict(encoder="vit-tiny/8", encoder_dim=16, encoder_depth=1, batch_size=16, out_dim=32,
            head_hidden_dim=32, head_bottleneck_dim=16, n_local_crops=1, global_size=16,
            local_size=8, warmup_epochs=1, embed_batch_size=64, accelerator="cpu")  # fmt: skip


def invoke(*args: str):
    from eoforge.cli.main import app

    return runner.invoke(app, ["ssl", *args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssl")
    wv = synth_wv(64, size=16, seed=3)
    data = save_wv(wv, root / "wv.zarr")
    cur = CurationConfig(mode="dynamic", warmup_epochs=1, refresh_every=1, ratio=0.5,
                         n_clusters=(6, 2))  # fmt: skip
    cfg = SSLConfig(**TINY, epochs=3, curation=cur, data=str(data))
    return pretrain(cfg, data, root / "run"), data, wv


def test_report_exists_and_embeds_its_figures(trained):
    run, _, _ = trained
    html = (run / "report.html").read_text()
    figures = sorted((run / "figures").glob("*.png"))
    assert [p.name for p in figures] == ["training_curves.png"]
    for png in figures:  # the report embeds exactly the saved figure files
        assert base64.b64encode(png.read_bytes()).decode("ascii") in html
    assert html.count("<img") == len(figures)
    assert "KL(P_t || P_s)" in html and "prototypes in use" in html
    history = json.loads((run / "curation_history.json").read_text())
    assert [h["kind"] for h in history] == ["full", "curated", "curated"]
    assert html.count("<td class=l>curated</td>") == 2  # one table row per curated selection
    assert "report.html" in json.loads((run / "manifest.json").read_text())["files"]


def test_loss_minus_teacher_entropy_is_the_mean_kl():
    """The identity the report plots: DINO loss - H(P_t) = mean KL(P_t || P_s) over view pairs."""
    g = torch.Generator().manual_seed(0)
    B, K, G, V, tau_t = 5, 12, 2, 4, 0.04
    student, teacher = torch.randn(V * B, K, generator=g), torch.randn(G * B, K, generator=g)
    loss_fn = DINOLoss(K, student_temp=0.1, center_momentum=0.9)
    loss_fn.center.copy_(torch.randn(1, K, generator=g) * 0.1)
    center = loss_fn.center.clone()
    loss = loss_fn(student, teacher, G, tau_t, update_center=False)
    ent = collapse_stats(teacher, center, tau_t, torch.randn(B, 8, generator=g))["teacher_entropy"]
    pt = torch.softmax((teacher - center) / tau_t, -1).chunk(G)
    log_ps = torch.log_softmax(student / 0.1, -1).chunk(V)
    kls = [(p * (p.clamp_min(1e-30).log() - lq)).sum(-1).mean()
           for i, p in enumerate(pt) for v, lq in enumerate(log_ps) if v != i]  # fmt: skip
    assert float(loss) - ent == pytest.approx(float(torch.stack(kls).mean()), abs=1e-5)


def test_description_blames_the_entropy_only_when_it_explains_the_rise():
    K = 64
    rising = [
        {
            "epoch": e,
            "loss": 0.5 + 0.2 * e,
            "teacher_entropy": 0.2 + 0.2 * e,
            "teacher_kl_uniform": 4.0 - 0.3 * e,
            "embedding_std": 0.1,
        }
        for e in range(6)
    ]
    t = curve_table(rising, K)
    np.testing.assert_allclose(t["kl"], 0.3)
    np.testing.assert_allclose(t["prototypes_in_use"][0], K * np.exp(-4.0))
    assert "its floor, the teacher entropy, rose" in describe_curves(rising, K)
    overfit = [dict(r, teacher_entropy=0.2) for r in rising]  # the KL part rises instead
    assert "floor" not in describe_curves(overfit, K)


def test_probe_records_what_it_probed(trained, tmp_path):
    run, data, _ = trained
    res = invoke("probe", str(run), "--data", str(data), "--seed", "4", "--test-fraction", "0.25",
                 "--knn-k", "3")  # fmt: skip
    assert res.exit_code == 0, res.output
    rec = json.loads((run / "probe.json").read_text())["probed"]
    assert rec["data"] == str(data.resolve()) and rec["n_images"] == 64
    assert rec["image_size"] == [16, 16] and rec["data_bytes"] > 0
    assert (rec["seed"], rec["test_fraction"], rec["knn_k"]) == (4, 0.25, 3)
    assert rec["same_as_pretraining"] is True
    assert len(rec["fingerprint"]["sha256"]) == 64
    other = save_wv(synth_wv(40, size=16, seed=9), tmp_path / "other.zarr")
    assert invoke("probe", str(run), "--data", str(other), "--knn-k", "3").exit_code == 0
    rec2 = json.loads((run / "probe.json").read_text())["probed"]
    assert rec2["n_images"] == 40 and rec2["same_as_pretraining"] is False
    assert rec2["fingerprint"]["sha256"] != rec["fingerprint"]["sha256"]


def test_embed_and_export_refuse_to_overwrite_without_the_flag(trained, tmp_path):
    run, data, _ = trained
    emb = tmp_path / "emb.zarr"
    emb.mkdir()
    (emb / "keep.txt").write_text("mine")
    res = invoke("embed", str(run), "--data", str(data), "--out", str(emb))
    assert res.exit_code == 2
    assert res.output.strip() == (
        f"error: --out {str(emb)!r} already exists; pass --overwrite to replace it, or choose "
        "another --out."
    )
    assert (emb / "keep.txt").read_text() == "mine"
    res = invoke("embed", str(run), "--data", str(data), "--out", str(emb), "--overwrite")
    assert res.exit_code == 0, res.output
    assert not (emb / "keep.txt").exists() and (emb / "zarr.json").exists()

    stem = tmp_path / "enc"
    assert invoke("export", str(run), "--out", str(stem)).exit_code == 0
    (tmp_path / "enc.json").write_text("{}")
    res = invoke("export", str(run), "--out", str(stem))
    assert res.exit_code == 2 and "already exists; pass --overwrite" in res.output
    assert (tmp_path / "enc.json").read_text() == "{}"
    assert invoke("export", str(run), "--out", str(stem), "--overwrite").exit_code == 0
    assert json.loads((tmp_path / "enc.json").read_text())["format"]
