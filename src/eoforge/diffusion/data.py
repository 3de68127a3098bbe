"""Training data for diffusion models: arrays in physical units -> model-domain image tensors.

Two kinds of data (``kind``):

- ``"sar"``: linear SAR intensities (sigma0 >= 0), mapped to standardised decibels by
  :class:`eoforge.sar.normalise.DbNormaliser`,
  ``z = (10 log10(max(x, floor)) - mu_dB) / sigma_dB``, with the exact inverse
  ``x = 10^((z sigma_dB + mu_dB)/10)`` applied to samples;
- ``"identity"``: arrays already in the model domain, e.g. InSAR wrapped phase as the two
  channels ``(cos phi, sin phi)`` (:func:`phase_to_channels`; a Gaussian diffusion on phi itself
  would treat -pi and pi as far apart) or unwrapped phase scaled to a range.

The normaliser's state is saved beside the model (:func:`normaliser_to_dict`) and rebuilt by
:func:`normaliser_from_dict`. Datasets return ``{"image": (C, H, W) float32, "label": int64}``
("label" only when labels are given), torchgeo style.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.diffusion.array_files import existing, read_npy, read_npz, read_zarr
from eoforge.sar.insar import from_cos_sin, to_cos_sin
from eoforge.sar.normalise import DbNormaliser

KINDS: tuple[str, ...] = ("sar", "identity")


class IdentityNormaliser:
    """No-op normaliser for data already in the model domain (same interface as DbNormaliser)."""

    def fit(self, images: Any) -> IdentityNormaliser:
        """Nothing to learn."""
        return self

    def transform(self, x: Any) -> Any:
        """``x`` as float32."""
        return x.to(torch.float32) if isinstance(x, torch.Tensor) else np.asarray(x, np.float32)

    def inverse_transform(self, z: Any) -> Any:
        """``z`` unchanged."""
        return z

    def to_dict(self) -> dict[str, Any]:
        """``{"kind": "identity"}``."""
        return {"kind": "identity"}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IdentityNormaliser:
        """Rebuild from :meth:`to_dict`."""
        return cls()


def make_normaliser(kind: str) -> Any:
    """An unfitted normaliser for ``kind`` (``"sar"``: DbNormaliser, ``"identity"``)."""
    if kind == "sar":
        return DbNormaliser()
    if kind == "identity":
        return IdentityNormaliser()
    raise bad_value("kind", kind, f"one of {KINDS}", "Use 'sar' for intensities, 'identity' else.")


def normaliser_to_dict(normaliser: Any) -> dict[str, Any]:
    """JSON-safe state of a fitted normaliser (it carries its own ``"kind"``)."""
    return normaliser.to_dict()


def normaliser_from_dict(d: dict[str, Any]) -> Any:
    """Rebuild a normaliser saved with :func:`normaliser_to_dict`."""
    kind = d.get("kind") if isinstance(d, dict) else None
    if kind == "db":
        return DbNormaliser.from_dict(d)
    if kind == "identity":
        return IdentityNormaliser.from_dict(d)
    raise bad_value("normaliser kind", kind, "'db' or 'identity'", "The run folder may be damaged.")


def phase_to_channels(phase: np.ndarray) -> np.ndarray:
    """Wrapped phase (N, H, W) -> (N, 2, H, W) float32 channels ``(cos phi, sin phi)``."""
    if np.ndim(phase) != 3:
        raise ShapeError(f"phase has shape {np.shape(phase)}: expected (N, H, W).")
    return to_cos_sin(phase).astype(np.float32)


def channels_to_phase(channels: np.ndarray) -> np.ndarray:
    """(N, 2, H, W) ``(cos, sin)`` channels -> wrapped phase ``atan2(sin, cos)`` in (-pi, pi]."""
    if np.ndim(channels) != 4 or np.shape(channels)[1] != 2:
        raise ShapeError(
            f"channels has shape {np.shape(channels)}: expected (N, 2, H, W) (cos, sin)."
        )
    return from_cos_sin(channels)


def as_nchw(images: Any, name: str = "images") -> np.ndarray:
    """(N, H, W) or (N, C, H, W) array -> (N, C, H, W) (a view when possible)."""
    arr = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4 or min(arr.shape) < 1:
        raise ShapeError(f"{name} has shape {arr.shape}: expected (N, H, W) or (N, C, H, W).")
    if arr.shape[2] != arr.shape[3]:
        raise ShapeError(f"{name} has shape {arr.shape}: images must be square (H == W).")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise bad_value(name, f"array of dtype {arr.dtype}", "a real numeric array")
    return arr


def check_labels(labels: Any, n: int, num_classes: int | None = None) -> np.ndarray | None:
    """Validate class labels: (N,) non-negative ints (< num_classes when given)."""
    if labels is None:
        return None
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise ShapeError(f"labels has shape {lab.shape}: expected ({n},), one per image.")
    if not np.issubdtype(lab.dtype, np.integer):
        if not np.all(np.mod(lab, 1) == 0):
            raise bad_value("labels", f"array of dtype {lab.dtype}", "integer class indices")
        lab = lab.astype(np.int64)
    if n and lab.min() < 0:
        raise bad_value("labels", int(lab.min()), "class indices >= 0")
    if num_classes is not None and n and lab.max() >= num_classes:
        raise InputError(f"labels reach {int(lab.max())} but num_classes={num_classes}.")
    return lab.astype(np.int64)


class ImageDataset(torch.utils.data.Dataset):
    """Model-domain images (N, C, H, W) and optional labels, as dicts of tensors.

    Args:
        images: (N, C, H, W) float array in the model domain.
        labels: Optional (N,) class indices.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray | None = None) -> None:
        arr = as_nchw(images)
        if not np.all(np.isfinite(arr)):
            raise InputError("images hold NaN or inf values in the model domain; clean them first.")
        self.images = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))
        lab = check_labels(labels, len(arr))
        self.labels = None if lab is None else torch.from_numpy(lab)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"image": self.images[i]}
        if self.labels is not None:
            item["label"] = self.labels[i]
        return item


def make_dataset(
    images: Any,
    labels: Any = None,
    *,
    kind: str = "sar",
    normaliser: Any = None,
) -> tuple[ImageDataset, Any]:
    """Normalise physical-unit arrays into a dataset; fits the normaliser when none is given.

    Args:
        images: (N, H, W) or (N, C, H, W): linear intensities (``"sar"``) or model-domain values.
        labels: Optional (N,) class indices.
        kind: ``"sar"`` or ``"identity"``.
        normaliser: A fitted normaliser to reuse (e.g. from a run being resumed).

    Returns:
        ``(dataset, normaliser)``.
    """
    arr = as_nchw(images)
    if normaliser is None:
        normaliser = make_normaliser(kind).fit(arr)
    return ImageDataset(normaliser.transform(arr), labels), normaliser


def load_arrays(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """Read images (and labels) from ``.npy``, ``.npz`` or ``.zarr``.

    A ``.npy`` file holds the images; ``.npz`` and ``.zarr`` hold ``images`` and optional
    ``labels``.

    Raises:
        DataNotFoundError: No such file, or no ``images`` array / zarr metadata in it.
        InputError: An unsupported suffix, or a damaged file (truncated, garbage, corrupt
            chunks), named in one line (see :mod:`eoforge.diffusion.array_files`).
    """
    p = existing(path)
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return read_npy(p, mmap=True), None
    if suffix in (".npz", ".zarr"):
        read = read_npz if suffix == ".npz" else read_zarr
        arrays = read(p, ("images", "labels"), required="images")
        return arrays["images"], arrays.get("labels")
    raise bad_value("data", str(p), "a .npy, .npz or .zarr path")
