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

from torch import nn

from eoforge.core.atomic import atomic_write_json
from eoforge.nn import frozen
from eoforge.nn.frozen import FORMAT, SHIPPED_ENCODER, VERSION, EncoderInfo, encoder_pair
from eoforge.nn.training import save_weights
from eoforge.sar.normalise import DbNormaliser

__all__ = ["FORMAT", "SHIPPED_ENCODER", "VERSION", "export_encoder", "load_encoder"]


def load_encoder(path: str | os.PathLike[str]) -> tuple[nn.Module, DbNormaliser, EncoderInfo]:
    """An exported encoder pair: ``(encoder, DbNormaliser, info)`` (:func:`frozen.load_encoder`).

    Args:
        path: Stem of the pair, or the path of its ``.safetensors`` or ``.json``.

    Raises:
        DataNotFoundError: A file of the pair is missing.
        InputError: The JSON is not an exported encoder, or the weights do not match it.
    """
    return frozen.load_encoder(path, DbNormaliser.from_dict)


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
    encoder, normaliser, info = frozen.load_run_encoder(run, DbNormaliser.from_dict)
    root = Path(run)
    weights, meta = encoder_pair(out)
    weights.parent.mkdir(parents=True, exist_ok=True)
    save_weights(encoder, weights, metadata={"format": FORMAT})
    training: dict[str, Any] = {"command": command, "run": str(root)}
    for name, key in (("config.yaml", "config"), ("metrics.json", "metrics")):
        if (root / name).is_file():
            text = (root / name).read_text()
            training[key] = json.loads(text) if name.endswith(".json") else _yaml(text)
    if isinstance(training.get("metrics"), dict):  # keep the summary, not every epoch
        training["metrics"] = {k: v for k, v in training["metrics"].items() if k != "per_epoch"}
    atomic_write_json(meta, {
        "format": FORMAT, "version": VERSION, "encoder": info,
        "normaliser": normaliser.to_dict(), "weights_sha256": frozen.file_sha256(weights),
        "training": training,
    })  # fmt: skip
    return weights, meta


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)
