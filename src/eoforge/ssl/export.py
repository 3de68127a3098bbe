"""Export a pre-training run's teacher as a small self-contained encoder file pair, and load it.

A pre-training run folder (:func:`eoforge.ssl.pretrain.pretrain`) holds much more than the
encoder. :func:`export_encoder` copies what inference needs into two files::

    STEM.safetensors   the teacher backbone's state dict (same names as build_encoder's module)
    STEM.json          {"format", "version", "encoder": encoder.json of the run,
                        "normaliser": DbNormaliser.to_dict(), "weights_sha256",
                        "training": {"command", "config", "metrics"}}

Loading the pair (:func:`load_encoder`), its format and the shipped pair
(:data:`SHIPPED_ENCODER`) live in :mod:`eoforge.nn.frozen`, shared with the diffusion metrics;
they are re-exported here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eoforge.core.atomic import atomic_path, atomic_write_json
from eoforge.nn.frozen import (
    FORMAT,
    SHIPPED_ENCODER,
    VERSION,
    encoder_pair,
    file_sha256,
    load_encoder,
    load_run_encoder,
)

__all__ = ["FORMAT", "SHIPPED_ENCODER", "VERSION", "export_encoder", "load_encoder"]


def export_encoder(
    run: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    command: str | None = None,
) -> tuple[Path, Path]:
    """Write the teacher backbone and normaliser of ``run`` as ``OUT.safetensors`` + ``OUT.json``.

    Args:
        run: A finished pre-training run folder.
        out: Stem of the pair (``.safetensors``/``.json`` suffixes are added or replaced).
        command: The command that produced the run, recorded for provenance.

    Returns:
        The two paths (weights, JSON). Both are written atomically, weights first.

    Raises:
        DataNotFoundError: ``run`` is not a finished pre-training run.
    """
    from safetensors.torch import save_file

    encoder, normaliser, info = load_run_encoder(run)
    root = Path(run)
    weights, meta = encoder_pair(out)
    weights.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in encoder.state_dict().items()}
    with atomic_path(weights) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT})
    training: dict[str, Any] = {"command": command, "run": str(root)}
    for name, key in (("config.yaml", "config"), ("metrics.json", "metrics")):
        if (root / name).is_file():
            text = (root / name).read_text()
            training[key] = json.loads(text) if name.endswith(".json") else _yaml(text)
    if isinstance(training.get("metrics"), dict):  # keep the summary, not every epoch
        training["metrics"] = {k: v for k, v in training["metrics"].items() if k != "per_epoch"}
    atomic_write_json(meta, {
        "format": FORMAT, "version": VERSION, "encoder": info,
        "normaliser": normaliser.to_dict(), "weights_sha256": file_sha256(weights),
        "training": training,
    })  # fmt: skip
    return weights, meta


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)
