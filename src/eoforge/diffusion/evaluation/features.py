"""Feature extractors for FID/KID/precision-recall: an eoforge SSL encoder, or random convolutions.

A feature extractor is any callable ``features(images) -> (N, D)``. Two are defined here:

- :class:`SSLFeatures` wraps the teacher backbone of an eoforge DINO pre-training run
  (:mod:`eoforge.ssl`), loaded from a run folder, from an exported encoder file pair
  (:func:`eoforge.nn.frozen.load_encoder`) or from the encoder shipped with the package
  (:data:`eoforge.nn.frozen.SHIPPED_ENCODER`, trained on synthetic wave-mode imagettes by
  ``scripts/train_fid_encoder.sh``). This is the default.
- :class:`RandomConvFeatures`, a fixed-seed random convolutional net: deterministic and
  download-free, but a weak generic extractor (local texture and contrast statistics only).

:func:`resolve_features` turns the ``features=`` argument of the metrics into an extractor:
``None`` (default rule below), ``"ssl"`` (the shipped encoder; an error if its file is missing),
``"random"``, a path (a pre-training run folder or an exported ``.safetensors``/``.json`` pair),
or a callable used as is. Default rule: ``"ssl"`` when the shipped weights file exists, else
``"random"`` with a one-line warning naming the missing file.

Numbers are comparable only with the same extractor (and the same sample counts). Nothing here
downloads anything.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError, bad_value
from eoforge.nn import frozen
from eoforge.nn.encoders import embed_dim
from eoforge.nn.frozen import eval_view, load_encoder, load_run_encoder
from eoforge.sar.normalise import DbNormaliser

FeatureFn = Callable[[np.ndarray], np.ndarray]
#: What the ``features=`` arguments accept (see :func:`resolve_features`).
FeatureSpec = FeatureFn | str | os.PathLike[str] | None
NAMES: tuple[str, ...] = ("ssl", "random")
TRAIN_SCRIPT = "scripts/train_fid_encoder.sh"


# --------------------------------------------------------------------------- random conv net


class RandomConvFeatures:
    """Deterministic random-weight conv net: a weak, generic, download-free feature extractor.

    Three 3x3 convolutions (stride 2, ReLU, He-scaled Gaussian weights from ``seed``) with
    ``width, 2 width, 4 width`` channels; the features are the spatial mean and standard
    deviation of every layer's activations (``2 * 7 * width`` values). The weights depend only
    on ``seed`` and the number of input channels, so features are reproducible across runs.

    Args:
        width: Channels of the first layer.
        seed: Seed of the weights.
        batch_size: Images per forward pass.

    Call with images ``(N, C, H, W)`` or ``(N, H, W)`` (H, W >= 8), ideally standardised.
    """

    def __init__(self, width: int = 8, seed: int = 0, batch_size: int = 256) -> None:
        if width < 1 or batch_size < 1:
            raise bad_value("width, batch_size", (width, batch_size), "positive ints")
        self.width = int(width)
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self._weights: dict[int, list[torch.Tensor]] = {}

    def _layers(self, in_ch: int) -> list[torch.Tensor]:
        """The three weight tensors for ``in_ch`` input channels (drawn once, then cached)."""
        if in_ch not in self._weights:
            gen = torch.Generator().manual_seed(self.seed * 1009 + in_ch)
            chans = [in_ch, self.width, 2 * self.width, 4 * self.width]
            layers = []
            for c_in, c_out in itertools.pairwise(chans):
                w = torch.randn((c_out, c_in, 3, 3), generator=gen, dtype=torch.float32)
                layers.append(w * (2.0 / (9 * c_in)) ** 0.5)
            self._weights[in_ch] = layers
        return self._weights[in_ch]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Features ``(N, C, H, W)`` or ``(N, H, W)`` -> ``(N, 14 width)`` float64."""
        x = np.asarray(images, dtype=np.float32)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[-1] < 8 or x.shape[-2] < 8:
            raise ShapeError(
                f"images have shape {np.shape(images)}: RandomConvFeatures needs "
                "(N, C, H, W) or (N, H, W) with H, W >= 8."
            )
        layers = self._layers(x.shape[1])
        out = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_size):
                h = torch.from_numpy(x[start : start + self.batch_size])  # (B, C, H, W)
                feats = []
                for w in layers:
                    h = F.relu(F.conv2d(h, w, stride=2, padding=1))  # (B, C', H/2, W/2)
                    feats += [h.mean(dim=(2, 3)), h.std(dim=(2, 3))]
                out.append(torch.cat(feats, dim=1).double().numpy())  # (B, 14 width)
        return np.concatenate(out, axis=0)

    def __repr__(self) -> str:
        return f"RandomConvFeatures(width={self.width}, seed={self.seed})"


# --------------------------------------------------------------------------- SSL encoder


class SSLFeatures:
    """Embeddings of an eoforge SSL encoder (DINO teacher backbone) as metric features.

    Input convention. The teacher was trained on the output of its run's ``DbNormaliser``,
    ``z = (10 log10 sigma0 - mean_db) / std_db``, so:

    - ``features(images)`` takes images already in that domain (or any standardised values);
    - :meth:`standardise_db` maps dB images to it with the encoder's own ``mean_db``/``std_db``
      (and its floor). :func:`eoforge.diffusion.evaluation.evaluate.evaluate` uses it for ``kind="sar"``:
      both sets go through the same fixed affine map the encoder was trained with (not the
      reference's mean/std), so absolute brightness differences stay visible and the encoder
      sees the value range it knows. For other data (InSAR phase, cos/sin channels), or an
      extractor without :meth:`standardise_db`, ``evaluate`` passes values standardised by the
      reference's mean and std, used as is — the encoder then acts as a generic texture
      encoder outside its training domain.

    Sizes. ``resize="eval"`` (default) maps each image to the encoder's evaluation view, the
    whole image resized to ``eval_size`` x ``eval_size`` (area averaging when shrinking,
    bilinear when enlarging; :func:`eoforge.nn.frozen.eval_view`), exactly as
    :func:`eoforge.ssl.embed.embed_images` and the probes do; any ``H, W`` works, non-square
    images are stretched. ``resize="crop"`` keeps the pixel scale: the centre
    ``(H // p) p x (W // p) p`` window is used (``p`` the ViT patch size, 1 for ResNets; the ViT
    interpolates its position embeddings to the new grid); images smaller than ``p`` are
    refused.

    Channels. The encoder takes one channel. ``(N, H, W)`` and ``(N, 1, H, W)`` give ``(N, D)``;
    ``(N, C, H, W)`` (e.g. InSAR cos/sin) is embedded channel by channel and the results are
    concatenated, ``[f(x_1), ..., f(x_C)]`` -> ``(N, C D)``.

    Computation: batches of ``batch_size`` images, ``torch.no_grad``, eval mode, float32, on
    ``device`` (default CUDA when available, else CPU); features are returned as float64.

    Args:
        encoder: Backbone mapping ``(B, 1, h, w)`` to ``(B, D)``, with ``.embed_dim``.
        normaliser: Its fitted ``DbNormaliser`` (needed by :meth:`standardise_db`).
        eval_size: Side of the evaluation view (needed by ``resize="eval"``).
        resize: ``"eval"`` or ``"crop"`` (see above).
        batch_size: Images per forward pass.
        device: Torch device.
        source: Where the encoder came from (for reports).
    """

    def __init__(
        self,
        encoder: nn.Module,
        normaliser: DbNormaliser | None = None,
        eval_size: int | None = None,
        *,
        resize: Literal["eval", "crop"] = "eval",
        batch_size: int = 256,
        device: str | torch.device | None = None,
        source: str = "",
    ) -> None:
        if resize not in ("eval", "crop"):
            raise bad_value("resize", resize, "'eval' or 'crop'")
        if resize == "eval" and (eval_size is None or int(eval_size) < 1):
            raise bad_value("eval_size", eval_size, "a positive int with resize='eval'")
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise bad_value("batch_size", batch_size, "a positive int")
        if normaliser is not None and (
            getattr(normaliser, "per_channel", False)
            or getattr(normaliser, "groups_", None) is not None
        ):
            raise InputError(
                "SSLFeatures needs a single (scalar) DbNormaliser; per-channel or per-group "
                "normalisers are not supported."
            )
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.encoder = encoder.eval().requires_grad_(False).to(self.device)
        self.normaliser = normaliser
        self.eval_size = None if eval_size is None else int(eval_size)
        self.resize = resize
        self.batch_size = int(batch_size)
        self.embed_dim = embed_dim(encoder)
        self.patch_size = int(getattr(encoder, "patch_size", 1))
        self.source = source

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def from_run(cls, run: str | os.PathLike[str], **kwargs: Any) -> SSLFeatures:
        """The teacher of a pre-training run folder (:func:`eoforge.nn.frozen.load_run_encoder`)."""
        encoder, normaliser, info = load_run_encoder(run, DbNormaliser.from_dict)
        kwargs.setdefault("source", f"run {run}")
        return cls(encoder, normaliser, info["eval_size"], **kwargs)

    @classmethod
    def from_weights(cls, path: str | os.PathLike[str], **kwargs: Any) -> SSLFeatures:
        """An exported encoder pair (:func:`eoforge.nn.frozen.load_encoder`)."""
        encoder, normaliser, info = load_encoder(path, DbNormaliser.from_dict)
        kwargs.setdefault("source", f"weights {path}")
        return cls(encoder, normaliser, info["eval_size"], **kwargs)

    @classmethod
    def shipped(cls, **kwargs: Any) -> SSLFeatures:
        """The encoder shipped with eoforge (:data:`eoforge.nn.frozen.SHIPPED_ENCODER`).

        Raises:
            DataNotFoundError: The weights file is not installed.
        """
        path = frozen.SHIPPED_ENCODER  # read at call time (tests point it elsewhere)
        if not path.is_file():
            raise DataNotFoundError(
                f"the shipped FID encoder {str(path)!r} is missing: create it with "
                f"{TRAIN_SCRIPT}, or pass features='random' or the path of an SSL run."
            )
        kwargs.setdefault("source", "shipped wv_encoder")
        return cls.from_weights(path, **kwargs)

    # -- applying -------------------------------------------------------------------------
    def standardise_db(self, db: np.ndarray) -> np.ndarray:
        """Map dB images to the encoder's input ``(max(db, 10 log10 floor) - mean_db) / std_db``.

        Equal to the run normaliser's ``transform`` of the linear intensities ``10^(db/10)``.
        """
        if self.normaliser is None:
            raise InputError("this SSLFeatures has no normaliser: pass one to standardise dB.")
        n = self.normaliser
        floor_db = 10.0 * np.log10(n.floor)
        x = np.maximum(np.asarray(db, dtype=np.float64), floor_db)
        return ((x - n.mean_db_) / n.std_db_).astype(np.float32)

    def _view(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) -> the view the encoder takes (see the class docstring)."""
        if self.eval_size is not None and self.resize == "eval":  # __init__ requires the size
            return eval_view(x, self.eval_size)
        p = self.patch_size
        H, W = x.shape[-2:]
        h, w = (H // p) * p, (W // p) * p
        if h == 0 or w == 0:
            raise ShapeError(
                f"images of {H} x {W} pixels are smaller than the patch size {p}: use "
                "resize='eval' or larger images."
            )
        top, left = (H - h) // 2, (W - w) // 2
        return x[..., top : top + h, left : left + w]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """Features ``(N, H, W)`` / ``(N, C, H, W)`` -> ``(N, C D)`` float64."""
        x = np.asarray(images, dtype=np.float32)
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or 0 in x.shape:
            raise ShapeError(
                f"images have shape {np.shape(images)}: SSLFeatures needs (N, H, W) or "
                "(N, C, H, W)."
            )
        N, C, H, W = x.shape
        out = np.empty((N, C * self.embed_dim), dtype=np.float64)
        with torch.no_grad():
            for s in range(0, N, self.batch_size):
                block = torch.from_numpy(np.ascontiguousarray(x[s : s + self.batch_size]))
                b = block.shape[0]
                v = self._view(block.reshape(b * C, 1, H, W).to(self.device))  # (bC, 1, h, w)
                f = self.encoder(v).float()  # (b C, D), channel-major per image
                out[s : s + b] = f.reshape(b, C * self.embed_dim).double().cpu().numpy()
        return out

    def __repr__(self) -> str:
        return (
            f"SSLFeatures({self.source or type(self.encoder).__name__}, D={self.embed_dim}, "
            f"resize={self.resize!r}, eval_size={self.eval_size})"
        )


# --------------------------------------------------------------------------- resolution


def shipped_available() -> bool:
    """Whether the shipped encoder's weights file exists."""
    return frozen.SHIPPED_ENCODER.is_file()


def resolve_features(features: FeatureSpec = None) -> FeatureFn:
    """The extractor named by ``features`` (see the module docstring for the rule).

    Args:
        features: ``None``, ``"ssl"``, ``"random"``, a path (SSL run folder, or an exported
            encoder's ``.safetensors``/``.json``/stem), or a callable.

    Raises:
        DataNotFoundError: ``"ssl"`` without the shipped file, or a path that does not exist.
        InputError: Any other string.
    """
    if features is None:
        if shipped_available():
            return SSLFeatures.shipped()
        warnings.warn(
            f"shipped FID encoder {frozen.SHIPPED_ENCODER} is missing; using the weak "
            f"RandomConvFeatures (create it with {TRAIN_SCRIPT}).",
            UserWarning,
            stacklevel=2,
        )
        return RandomConvFeatures()
    if callable(features) and not isinstance(features, str | os.PathLike):
        return features
    if not isinstance(features, str | os.PathLike):
        raise bad_value("features", features, f"one of {NAMES}, a path or a callable")
    if str(features) == "ssl":
        return SSLFeatures.shipped()
    if str(features) == "random":
        return RandomConvFeatures()
    path = Path(features)
    if path.is_dir():
        return SSLFeatures.from_run(path)
    stem = path.with_suffix("") if path.suffix in (".safetensors", ".json") else path
    if stem.with_name(stem.name + ".safetensors").is_file():
        return SSLFeatures.from_weights(stem)
    if path.suffix or os.sep in str(features) or path.exists():
        raise DataNotFoundError(
            f"features path {str(features)!r} is neither an SSL run folder nor an exported "
            "encoder (.safetensors + .json); check the path."
        )
    raise bad_value(
        "features", features, f"one of {NAMES}, an SSL run folder or an encoder file",
    )  # fmt: skip
