"""A frozen encoder for inference: backbone, input normaliser and info, from a run or an export.

Shared by the SSL wing (which trains and exports encoders) and the diffusion metrics (which use
one as their feature extractor), so it lives in :mod:`eoforge.nn`. The normaliser is the
caller's: this module stores and reads its dict form and builds it with the ``normaliser``
function it is given (for SAR, ``eoforge.sar.normalise.DbNormaliser.from_dict``), so the torch
layer knows nothing of dB scaling.

Two on-disk forms hold the same three things, ``(encoder, normaliser, info)`` with ``info`` =
``{"name", "build_kwargs", "embed_dim", "eval_size"}`` (:class:`EncoderInfo`):

* a pre-training run folder: ``encoder.json``, ``normaliser.json`` and
  ``teacher_backbone.safetensors`` (:func:`load_run_encoder`);
* an exported pair (``eoforge ssl export``)::

    STEM.safetensors   the backbone's state dict (same names as build_encoder's module)
    STEM.json          {"format", "version", "encoder": info, "normaliser": normaliser.to_dict(),
                        "weights_sha256", "training": {"command", "config", "metrics"}}

  read by :func:`load_encoder`, which checks the SHA-256 of the weights against the JSON (a pair
  from two different exports is refused).

The package ships one exported pair, :data:`SHIPPED_ENCODER` (``eoforge/nn/weights/wv_encoder``),
a small ViT pre-trained with DINO on synthetic wave-mode imagettes by
``scripts/train_fid_encoder.sh``; the diffusion metrics use it as their default feature
extractor. It is a local file: nothing is downloaded.

:func:`eval_view` is the deterministic view an encoder is evaluated on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.nn.encoders import build_encoder

#: The shipped encoder's weights (its JSON is the same path with the suffix ``.json``).
SHIPPED_ENCODER: Path = Path(__file__).parent / "weights" / "wv_encoder.safetensors"

FORMAT = "eoforge-ssl-encoder"
VERSION = 1


class EncoderInfo(TypedDict):
    """What an encoder file records about its network (``encoder.json`` of a run)."""

    name: str
    build_kwargs: dict[str, Any]
    embed_dim: int
    eval_size: int


#: Builds the caller's normaliser from its saved dict (e.g. ``DbNormaliser.from_dict``).
NormaliserFromDict = Callable[[dict[str, Any]], Any]


def eval_view(x: torch.Tensor, size: int) -> torch.Tensor:
    """Deterministic evaluation view: the whole image resized to ``size`` (area/bilinear).

    (B, C, H, W) -> (B, C, size, size); the input is returned unchanged when already that size.
    """
    if x.ndim != 4:
        raise ShapeError(f"eval_view expects (batch, channels, H, W), got {tuple(x.shape)}.")
    if x.shape[-2:] == (size, size):
        return x.float()
    mode = "area" if x.shape[-1] >= size and x.shape[-2] >= size else "bilinear"
    return F.interpolate(x.float(), size=(size, size), mode=mode)


def load_run_encoder(
    run: str | os.PathLike[str], normaliser: NormaliserFromDict
) -> tuple[nn.Module, Any, EncoderInfo]:
    """The teacher backbone of a run (eval mode), its normaliser and its ``encoder.json``.

    Args:
        run: A finished pre-training run folder.
        normaliser: Builds the normaliser from ``normaliser.json`` (e.g.
            ``DbNormaliser.from_dict``).

    Raises:
        DataNotFoundError: ``run`` is not a finished pre-training run folder.
    """
    root = Path(run)
    needed = ["encoder.json", "normaliser.json", "teacher_backbone.safetensors"]
    missing = [n for n in needed if not (root / n).is_file()]
    if missing:
        raise DataNotFoundError(
            f"{str(root)!r} is not a finished pre-training run (missing {missing}); "
            "run `eoforge ssl pretrain` first or check the path."
        )
    info: EncoderInfo = json.loads((root / "encoder.json").read_text())
    encoder = build_encoder(**info["build_kwargs"])
    encoder.load_state_dict(load_file(str(root / "teacher_backbone.safetensors")))
    encoder.eval()
    state = json.loads((root / "normaliser.json").read_text())
    return encoder, normaliser(state), info


def encoder_pair(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(STEM.safetensors, STEM.json)`` from the stem or either file's path."""
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file at ``path`` (read in 1 MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_encoder(
    path: str | os.PathLike[str], normaliser: NormaliserFromDict
) -> tuple[nn.Module, Any, EncoderInfo]:
    """The encoder (eval mode, no gradients), its normaliser and its ``encoder`` info.

    Args:
        path: Stem of an exported pair, or the path of its ``.safetensors`` or ``.json``.
        normaliser: Builds the normaliser from the JSON's ``normaliser`` dict (e.g.
            ``DbNormaliser.from_dict``).

    Returns:
        ``(encoder, normaliser, info)`` as :func:`load_run_encoder` returns them
        (``info`` has ``name``, ``build_kwargs``, ``embed_dim``, ``eval_size``).

    Raises:
        DataNotFoundError: A file of the pair is missing.
        InputError: The JSON is not an exported encoder, or the weights do not match it.
    """
    weights, meta = encoder_pair(path)
    missing = [str(p) for p in (weights, meta) if not p.is_file()]
    if missing:
        raise DataNotFoundError(
            f"encoder file(s) {missing} do not exist; export one from a pre-training run with "
            "`eoforge ssl export RUN --out STEM` (or run scripts/train_fid_encoder.sh)."
        )
    doc = json.loads(meta.read_text())
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(f"{str(meta)!r} is not an eoforge encoder file (format {FORMAT!r}).")
    if doc.get("weights_sha256") != file_sha256(weights):
        raise InputError(
            f"{str(weights)!r} does not match {str(meta)!r} (SHA-256 differs): the two files "
            "come from different exports; export them again together."
        )
    info: EncoderInfo = doc["encoder"]
    encoder = build_encoder(**info["build_kwargs"])
    encoder.load_state_dict(load_file(str(weights)))
    encoder.eval().requires_grad_(False)
    return encoder, normaliser(doc["normaliser"]), info
