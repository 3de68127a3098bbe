"""Export a pre-training run's teacher as a small self-contained encoder file pair, and load it.

A pre-training run folder (:func:`eoforge.ssl.pretrain.pretrain`) holds much more than the
encoder. :func:`export_encoder` copies what inference needs into two files::

    STEM.safetensors   the teacher backbone's state dict (same names as build_encoder's module)
    STEM.json          {"format", "version", "encoder": encoder.json of the run,
                        "normaliser": DbNormaliser.to_dict(), "weights_sha256",
                        "training": {"command", "config", "metrics"}}

:func:`load_encoder` rebuilds ``(encoder, normaliser, info)`` from the pair, like
:func:`eoforge.ssl.embed.load_teacher` does from a run, and checks the SHA-256 of the weights
against the JSON (a pair from two different exports is refused).

The package ships one such pair, :data:`SHIPPED_ENCODER` (``eoforge/ssl/weights/wv_encoder``),
a small ViT pre-trained with DINO on synthetic wave-mode imagettes by
``scripts/train_fid_encoder.sh``; the diffusion metrics use it as their default feature
extractor. It is a local file: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from torch import nn

from eoforge.core.atomic import atomic_path, atomic_write_json
from eoforge.core.errors import DataNotFoundError, InputError

#: The shipped encoder's weights (its JSON is the same path with the suffix ``.json``).
SHIPPED_ENCODER: Path = Path(__file__).parent / "weights" / "wv_encoder.safetensors"

FORMAT = "eoforge-ssl-encoder"
VERSION = 1


def _pair(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(STEM.safetensors, STEM.json)`` from the stem or either file's path."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


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

    from eoforge.ssl.embed import load_teacher

    encoder, normaliser, info = load_teacher(run)
    root = Path(run)
    weights, meta = _pair(out)
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
        "normaliser": normaliser.to_dict(), "weights_sha256": _sha256(weights),
        "training": training,
    })  # fmt: skip
    return weights, meta


def _yaml(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def load_encoder(path: str | os.PathLike[str]) -> tuple[nn.Module, Any, dict[str, Any]]:
    """The encoder (eval mode, no gradients), its ``DbNormaliser`` and its ``encoder`` info.

    Args:
        path: Stem of an exported pair, or the path of its ``.safetensors`` or ``.json``.

    Returns:
        ``(encoder, normaliser, info)`` as :func:`eoforge.ssl.embed.load_teacher` returns them
        (``info`` has ``name``, ``build_kwargs``, ``embed_dim``, ``eval_size``).

    Raises:
        DataNotFoundError: A file of the pair is missing.
        InputError: The JSON is not an exported encoder, or the weights do not match it.
    """
    from safetensors.torch import load_file

    from eoforge.nn.encoders import build_encoder
    from eoforge.sar.normalise import DbNormaliser

    weights, meta = _pair(path)
    missing = [str(p) for p in (weights, meta) if not p.is_file()]
    if missing:
        raise DataNotFoundError(
            f"encoder file(s) {missing} do not exist; export one from a pre-training run with "
            "`eoforge ssl export RUN --out STEM` (or run scripts/train_fid_encoder.sh)."
        )
    doc = json.loads(meta.read_text())
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{str(meta)!r} is not an eoforge encoder file (format {FORMAT!r}).")
    if doc.get("weights_sha256") != _sha256(weights):
        raise InputError(
            f"{str(weights)!r} does not match {str(meta)!r} (SHA-256 differs): the two files "
            "come from different exports; export them again together."
        )
    info = doc["encoder"]
    encoder = build_encoder(**info["build_kwargs"])
    encoder.load_state_dict(load_file(str(weights)))
    encoder.eval().requires_grad_(False)
    return encoder, DbNormaliser.from_dict(doc["normaliser"]), info
