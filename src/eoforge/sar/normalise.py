"""Invertible decibel normalisation of SAR intensities (sigma0), stored with every model.

SAR backscatter spans several decades and its speckle is multiplicative, so networks are fed the
standardised decibel value

    z = (10 log10(max(x, floor)) - mu_dB) / sigma_dB,

with ``mu_dB``/``sigma_dB`` the mean and standard deviation of the dB values of the training set
(over all pixels, per channel, or per group of images such as the WV1/WV2 beams, whose mean
backscatter differs by several dB). The inverse is ``x = 10 ** ((z sigma_dB + mu_dB) / 10)``, exact
for every ``x >= floor``. The learned state is JSON-safe (:meth:`DbNormaliser.to_dict`) so that it
is saved beside the weights and re-applied to new data.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
from numpy.typing import NDArray

from eoforge.core.errors import InputError, bad_value

if TYPE_CHECKING:
    import torch

_KIND = "db"


def _is_torch(x: object) -> TypeGuard[torch.Tensor]:
    """Whether ``x`` is a torch tensor (torch is imported only to check)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(x, torch.Tensor)


class DbNormaliser:
    """Standardised-decibel normaliser, scikit-learn style (``fit``/``transform``/``inverse``).

    ``transform(x) = (10 log10(max(x, floor)) - mean_db_) / std_db_``;
    ``inverse_transform(z) = 10 ** ((z std_db_ + mean_db_) / 10)``.

    Args:
        floor: Smallest linear intensity kept (values below are clipped before the log; also
            avoids ``log(0)``). Must be positive.
        per_channel: If True, ``fit`` expects ``(n, C, H, W)`` images and learns one mean/std per
            channel (axis 1); ``transform`` then needs the channel axis at position ``-3``.

    Attributes:
        mean_db_: Mean of the dB values (float, or array ``(C,)`` per channel / ``(G,)`` per
            group).
        std_db_: Standard deviation of the dB values (same shape as ``mean_db_``).
        groups_: Sorted group values (e.g. incidence angles) when fitted with ``groups``, else
            ``None``.
    """

    mean_db_: NDArray[np.float64] | float
    std_db_: NDArray[np.float64] | float
    groups_: NDArray[np.float64] | None

    def __init__(self, floor: float = 1e-6, per_channel: bool = False) -> None:
        self.floor = floor
        self.per_channel = per_channel

    # -- learning ------------------------------------------------------------------------------
    def fit(self, images: np.ndarray | torch.Tensor, groups: Any = None) -> DbNormaliser:
        """Learn ``mean_db_`` and ``std_db_`` of ``10 log10(max(images, floor))``.

        Args:
            images: Linear intensities, any shape (``(n, C, H, W)`` if ``per_channel``), >= 0.
            groups: Optional ``(n,)`` group of each image (e.g. ``WVSet.incidence``, the beam):
                one mean/std per group; ``transform`` then needs the groups too.

        Returns:
            ``self``.
        """
        if not (
            isinstance(self.floor, int | float) and self.floor > 0 and math.isfinite(self.floor)
        ):
            raise bad_value("floor", self.floor, "a positive finite float", "Use e.g. 1e-6.")
        x = images.detach().cpu().numpy() if _is_torch(images) else np.asarray(images)
        _check_intensity(x, "images")
        if x.size == 0:
            raise bad_value("images", f"array of shape {x.shape}", "a non-empty array")
        db = 10.0 * np.log10(np.maximum(x.astype(np.float64), self.floor))
        self.groups_ = None
        if groups is not None:
            g = np.asarray(groups, dtype=np.float64).reshape(-1)
            if self.per_channel or x.ndim < 2 or g.shape[0] != x.shape[0]:
                raise InputError(
                    f"groups has {g.shape[0]} values for images of shape {x.shape}: pass one "
                    "group per image (axis 0); groups cannot be combined with per_channel."
                )
            self.groups_ = np.unique(g)
            rows = [db[g == v] for v in self.groups_]
            self.mean_db_ = np.array([r.mean() for r in rows])
            std = np.array([r.std() for r in rows])
            self.std_db_ = np.where(std > 0, std, 1.0)
            return self
        if self.per_channel:
            if x.ndim != 4:
                raise InputError(
                    f"images has shape {x.shape}: per_channel=True needs (n, C, H, W). "
                    "Add a channel axis or use per_channel=False."
                )
            mean = db.mean(axis=(0, 2, 3))
            std = db.std(axis=(0, 2, 3))
        else:
            mean = np.asarray(db.mean())
            std = np.asarray(db.std())
        std = np.where(std > 0, std, 1.0)  # a constant image: keep the shift, unit scale
        self.mean_db_ = mean.astype(np.float64) if self.per_channel else float(mean)
        self.std_db_ = std.astype(np.float64) if self.per_channel else float(std)
        return self

    # -- applying -----------------------------------------------------------------------------
    def _stats(self, ndim: int, groups: Any = None) -> tuple[Any, Any]:
        if not hasattr(self, "mean_db_"):
            raise InputError(
                "DbNormaliser is not fitted: call fit(images) first or load one with from_dict()."
            )
        known = getattr(self, "groups_", None)
        if known is not None:
            return self._group_stats(known, ndim, groups)
        if not self.per_channel:
            return self.mean_db_, self.std_db_
        if ndim < 3:
            raise InputError(
                f"per-channel normaliser needs inputs with a channel axis at -3; got {ndim} dims."
            )
        shape = (-1, 1, 1)
        return np.reshape(self.mean_db_, shape), np.reshape(self.std_db_, shape)

    def _group_stats(self, known: NDArray[np.float64], ndim: int, groups: Any) -> tuple[Any, Any]:
        """The mean and std of each image's group (``known``: the sorted fitted groups)."""
        if groups is None:
            raise InputError(
                f"this normaliser was fitted per group {known.tolist()}: pass groups= "
                "(e.g. the incidence angle of each image) to transform/inverse_transform."
            )
        values = groups.detach().cpu().numpy() if _is_torch(groups) else groups
        g = np.asarray(values, dtype=np.float64).reshape(-1)
        idx = np.clip(np.searchsorted(known, g), 0, len(known) - 1)
        idx_lo = np.clip(idx - 1, 0, None)
        idx = np.where(np.abs(known[idx_lo] - g) < np.abs(known[idx] - g), idx_lo, idx)
        unknown = np.abs(known[idx] - g) > 1e-6
        if unknown.any():
            raise InputError(
                f"groups {np.unique(g[unknown]).tolist()} were not seen in fit (known: "
                f"{known.tolist()}); refit the normaliser on data from these groups."
            )
        mean, std = np.asarray(self.mean_db_)[idx], np.asarray(self.std_db_)[idx]
        if g.size == 1:
            return float(mean[0]), float(std[0])
        shape = (-1,) + (1,) * (ndim - 1)
        return mean.reshape(shape), std.reshape(shape)

    def transform(self, x: Any, groups: Any = None) -> Any:
        """Linear intensity -> standardised dB (float32). Accepts numpy arrays or torch tensors.

        ``groups`` (one value, or one per image along axis 0) is needed, and only used, when the
        normaliser was fitted per group.
        """
        if _is_torch(x):
            import torch

            _check_intensity(x.detach().cpu().numpy(), "x")
            mean, std = self._stats(x.ndim, groups)
            db_t = 10.0 * torch.log10(torch.clamp(x.to(torch.float64), min=self.floor))
            mean_t = torch.as_tensor(mean, dtype=torch.float64, device=x.device)
            std_t = torch.as_tensor(std, dtype=torch.float64, device=x.device)
            return ((db_t - mean_t) / std_t).to(torch.float32)
        arr = np.asarray(x)
        _check_intensity(arr, "x")
        mean, std = self._stats(arr.ndim, groups)
        db = 10.0 * np.log10(np.maximum(arr.astype(np.float64), self.floor))
        return ((db - mean) / std).astype(np.float32)

    def inverse_transform(self, z: Any, groups: Any = None) -> Any:
        """Standardised dB -> linear intensity ``10 ** ((z std + mean) / 10)`` (same type as ``z``)."""
        if _is_torch(z):
            import torch

            mean, std = self._stats(z.ndim, groups)
            mean_t = torch.as_tensor(mean, dtype=torch.float64, device=z.device)
            std_t = torch.as_tensor(std, dtype=torch.float64, device=z.device)
            lin = torch.pow(10.0, (z.to(torch.float64) * std_t + mean_t) / 10.0)
            return lin.to(z.dtype if z.is_floating_point() else torch.float32)
        arr = np.asarray(z)
        mean, std = self._stats(arr.ndim, groups)
        out = np.power(10.0, (arr.astype(np.float64) * std + mean) / 10.0)
        return out.astype(arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.float32)

    def fit_transform(self, images: np.ndarray, groups: Any = None) -> np.ndarray:
        """``fit(images, groups).transform(images, groups)``."""
        return self.fit(images, groups).transform(images, groups)

    # -- persistence --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state.

        Returns:
            ``{"kind": "db", "floor", "per_channel", "groups", "mean_db", "std_db"}``.
        """
        if not hasattr(self, "mean_db_"):
            self._stats(4)
        mean = np.asarray(self.mean_db_, dtype=np.float64)
        std = np.asarray(self.std_db_, dtype=np.float64)
        return {
            "kind": _KIND,
            "floor": float(self.floor),
            "per_channel": bool(self.per_channel),
            "groups": None if self.groups_ is None else self.groups_.tolist(),
            "mean_db": mean.tolist(),
            "std_db": std.tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DbNormaliser:
        """Rebuild a fitted normaliser from :meth:`to_dict` output."""
        if not isinstance(d, dict) or d.get("kind") != _KIND:
            kind = d.get("kind") if isinstance(d, dict) else type(d).__name__
            raise bad_value("normaliser kind", kind, f"'{_KIND}'", "Pass DbNormaliser.to_dict().")
        missing = [k for k in ("floor", "mean_db", "std_db") if k not in d]
        if missing:
            raise InputError(f"normaliser dict lacks {missing}; pass DbNormaliser.to_dict().")
        norm = cls(floor=float(d["floor"]), per_channel=bool(d.get("per_channel", False)))
        groups = d.get("groups")
        norm.groups_ = None if groups is None else np.asarray(groups, dtype=np.float64)
        if norm.per_channel or norm.groups_ is not None:
            norm.mean_db_ = np.asarray(d["mean_db"], dtype=np.float64)
            norm.std_db_ = np.asarray(d["std_db"], dtype=np.float64)
        else:
            norm.mean_db_ = float(d["mean_db"])
            norm.std_db_ = float(d["std_db"])
        return norm

    def __repr__(self) -> str:
        state = (
            f", mean_db_={self.mean_db_}, std_db_={self.std_db_}"
            if hasattr(self, "mean_db_")
            else ""
        )
        return f"DbNormaliser(floor={self.floor}, per_channel={self.per_channel}{state})"


def _check_intensity(x: np.ndarray, name: str) -> None:
    """Linear intensities must be finite and non-negative."""
    if not np.issubdtype(x.dtype, np.number):
        raise bad_value(name, f"array of dtype {x.dtype}", "a numeric array of intensities")
    if x.size and not np.all(np.isfinite(x)):
        raise InputError(
            f"{name} holds {int(np.size(x) - np.isfinite(x).sum())} non-finite values; "
            "mask or fill NaN/inf pixels before normalising."
        )
    if x.size and np.min(x) < 0:
        raise InputError(
            f"{name} has negative values (min {float(np.min(x)):.3g}); linear sigma0 intensities "
            "are >= 0. Pass linear intensity, not dB or complex amplitude."
        )
