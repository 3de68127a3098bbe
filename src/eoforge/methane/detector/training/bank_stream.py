"""Training batches drawn from the bank (:mod:`.bank`): cheap crops on the CPU, physics on device.

The CPU side (:class:`BankBatches`, a DataLoader dataset that yields whole batches) only indexes
arrays. It keeps a block of ``bank_block`` backgrounds and plumes in memory (read chunk by chunk
from the Zarr store; memory is bounded by the block, not the bank), draws ``bank_reuse`` batches
from it, then reads another random block. Per item it draws:

    a background j and a P x P crop at a uniform offset, k * 90 degree rotation, k ~ U{0..3},
    and a left-right flip with probability 1/2 (the same for both dates and the clear mask);
    with probability 1 - negative_fraction a plume: Q ~ logU(rate_min, rate_max) kg/h, a pool
    plume rotated/flipped likewise, its source placed at a uniform (r, c) in [0.2 P, 0.8 P)^2,
    dOmega = Q * plume(Q = 1);
    a noise scale s ~ U(noise_min, noise_max).

The device side (:func:`make_inputs`, called by the LightningModule after the batch reaches the
training device; in the loader workers instead when training on the CPU) injects the plume into the target's clear land, adds fresh sensor noise to all
dates (the K reference dates of a ``reference_dates`` > 1 bank: their stack channels too) (a generator seeded from the batch's seed, on the device), and computes the features and
labels with the batched torch code of :mod:`~eoforge.methane.detector.features_torch`; the label is the scene generator's
rule |m(AMF dOmega)| > 1e-3 on clear land, restricted to dOmega >= ``label_min_column``.

The scene constants of a crop come from
:func:`~eoforge.methane.detector.features_torch.crop_constants`: the band scales
c_t, c_r, the log-change medians and the noise level on the regular subsample of at most
``CROP_FIT_PIXELS`` pixels (every 2nd row and column of a 128 px crop: 4x fewer sorted and
selected values), the MBSP/MBMP medians on every pixel. Against the fit on every pixel (128 px
bank crops, tests/methane/detector/test_crop_constants.py) the band scales move by ~7e-4 rms, ~10x
less than the two dates' scales differ (c_t - c_r ~6e-3 rms), and the features by < 1 % of their
per-pixel spread (the median centring cancels most of a scale error); it is 2-5x the spread of the
full fit over fresh noise draws of one crop, a jitter far below the per-pixel noise.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TypedDict, final

import numpy as np
import torch
import zarr
from torch.utils.data import IterableDataset

from eoforge.core.errors import InputError
from eoforge.methane.detector import features_torch as ft
from eoforge.methane.detector.inject_torch import add_noise, fractional_signal, inject
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.detector.training.loss import TrainBatch
from eoforge.methane.physics import air_mass_factor
from eoforge.nn.lightning_strategy import process_rank

MASK_THRESHOLD = 1e-3
"""|T_B12 / T_B11 - 1| above which a pixel belongs to the plume (the scene generator's rule)."""
CROP_FIT_PIXELS = 4096
"""Most pixels per crop the band scales c_t, c_r are fitted on (a regular subsample, every
``fit_step`` rows and columns: 64 x 64 of a 128 px crop); see the module docstring."""


@final  # no other keys: `"bands" in batch` tells it from a TrainBatch
class RawBatch(TypedDict):
    """A raw batch of the bank (:meth:`BankBatches.draw`), made into inputs on the device."""

    bands: torch.Tensor  # (B, 1+K, nb, P, P) noise-free dates: target, K references
    clear: torch.Tensor  # (B, P, P) bool, clear land of the target
    column: torch.Tensor  # (B, P, P) dOmega of the plume (mol/m2), 0 without one
    amf: torch.Tensor  # (B,) air-mass factor
    path: torch.Tensor  # (B, nb) path reflectance of each band
    noise_scale: torch.Tensor  # (B,) sensor noise scale s
    seed: int  # seed of the batch's noise generator


def _orient(a: np.ndarray, k: int, flip: bool) -> np.ndarray:
    """Rotate the last two axes by k * 90 degrees, then flip left-right if asked."""
    a = np.rot90(a, k, axes=(-2, -1))
    return a[..., ::-1] if flip else a


class BankBatches(IterableDataset):
    """Endless stream of raw training batches from a bank (module docstring).

    Args:
        config: The ``DetectorConfig``.
        path: Zarr folder of the bank (already built, :func:`.bank.open_bank`).
        seed: Seed of this stream; each DataLoader worker and DDP rank gets its own sub-stream.
        finish: Yield finished batches (:func:`make_inputs` run here, in the loader worker):
            for training on the CPU, where the workers then share the feature work.
    """

    def __init__(
        self, config: DetectorConfig, path: str | os.PathLike[str], seed: int, finish: bool = False
    ) -> None:
        self.config = config
        self.path = str(path)
        self.seed = int(seed)
        self.finish = bool(finish)

    def _rng(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        worker = 0 if info is None else info.id
        rank = process_rank()
        return np.random.default_rng(np.random.SeedSequence([self.seed, rank, worker, 7]))

    def _block(self, g: zarr.Group, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Read a random block of backgrounds and plumes (only their chunks)."""
        bg, plumes = _array(g, "backgrounds"), _array(g, "plumes")
        n, m = bg.shape[0], plumes.shape[0]
        k = min(self.config.bank_block, n)
        i = np.sort(rng.choice(n, size=k, replace=False))
        j = np.sort(rng.choice(m, size=min(self.config.bank_block, m), replace=False))
        return {
            "backgrounds": np.asarray(bg.get_orthogonal_selection((i,))),
            "clear": np.asarray(_array(g, "clear").get_orthogonal_selection((i,))),
            "scalars": np.asarray(_array(g, "scalars").get_orthogonal_selection((i,))),
            "plumes": np.asarray(plumes.get_orthogonal_selection((j,))),
        }

    def __iter__(self) -> Iterator[RawBatch | TrainBatch]:
        g = zarr.open_group(self.path, mode="r")
        rng = self._rng()
        while True:
            block = self._block(g, rng)
            for _ in range(self.config.bank_reuse):
                raw = self.draw(block, rng)
                yield make_inputs(raw, self.config) if self.finish else raw

    def draw(self, block: dict[str, np.ndarray], rng: np.random.Generator) -> RawBatch:
        """One raw batch from a block: crops, plume columns and per-item scalars (CPU tensors)."""
        cfg, p = self.config, self.config.patch
        s, c = block["backgrounds"].shape[-1], block["plumes"].shape[-1] // 2
        bands, clear = [], []
        column = np.zeros((cfg.batch_size, p, p), np.float32)
        rows, scale = [], np.empty(cfg.batch_size, np.float32)
        for b in range(cfg.batch_size):
            j = int(rng.integers(len(block["clear"])))
            r0, c0 = (int(v) for v in rng.integers(0, s - p + 1, 2))
            k, flip = int(rng.integers(4)), bool(rng.integers(2))
            win = (slice(r0, r0 + p), slice(c0, c0 + p))
            bands.append(_orient(block["backgrounds"][j][..., win[0], win[1]], k, flip))
            clear.append(_orient(block["clear"][j][win], k, flip))
            rows.append(block["scalars"][j])
            if rng.random() >= cfg.negative_fraction:
                q = np.exp(rng.uniform(np.log(cfg.rate_min), np.log(cfg.rate_max)))
                pl = _orient(block["plumes"][int(rng.integers(len(block["plumes"])))],
                             int(rng.integers(4)), bool(rng.integers(2)))  # fmt: skip
                sr, sc = (int(v) for v in rng.integers(int(0.2 * p), int(0.8 * p), 2))
                column[b] = q * pl[c - sr : c - sr + p, c - sc : c - sc + p]
            scale[b] = rng.uniform(cfg.noise_min, cfg.noise_max)
        scal = np.stack(rows)  # (B, 2 + nb): sza, vza, path per band
        return {
            "bands": torch.from_numpy(np.ascontiguousarray(np.stack(bands))),  # (B, 1+K, nb, P, P)
            "clear": torch.from_numpy(np.ascontiguousarray(np.stack(clear))),  # (B, P, P)
            "column": torch.from_numpy(column),  # (B, P, P)
            "amf": torch.from_numpy(np.asarray(air_mass_factor(scal[:, 0], scal[:, 1]))),
            "path": torch.from_numpy(np.ascontiguousarray(scal[:, 2:])),  # (B, nb)
            "noise_scale": torch.from_numpy(scale),
            "seed": int(rng.integers(0, 2**62)),
        }


def _array(g: zarr.Group, name: str) -> zarr.Array:
    """The array ``name`` of the bank's group."""
    a = g[name]
    if not isinstance(a, zarr.Array):
        raise InputError(
            f"the training bank {g.store_path} has no array {name!r}: rebuild it "
            "(bank_rebuild=true, --rebuild-bank)."
        )
    return a


def make_inputs(raw: RawBatch, cfg: DetectorConfig) -> TrainBatch:
    """Training batch {x, mask, column, valid} from a raw batch, on the raw batch's device.

    Args:
        raw: A batch of :meth:`BankBatches.draw`, on the training device.
        cfg: The training configuration (context bands, features, label threshold).

    Returns:
        ``x`` (B, C, P, P) inputs, ``mask`` (B, P, P) plume labels, ``column`` (B, P, P) true
        dOmega (mol/m2), ``valid`` (B, P, P).
    """
    names = ["B11", "B12", *cfg.context]
    bands, column, clear = raw["bands"], raw["column"], raw["clear"]
    gen = torch.Generator(device=bands.device)
    gen.manual_seed(raw["seed"])
    target = inject(bands[:, 0], names, column, raw["amf"], clear, raw["path"])
    target = add_noise(target, names, raw["noise_scale"], gen)
    refs = [add_noise(bands[:, k], names, raw["noise_scale"], gen)
            for k in range(1, bands.shape[1])]  # fmt: skip
    stack = torch.stack(refs, 1) if len(refs) > 1 else None  # (B, K, nb, P, P)
    const = ft.crop_constants(target, refs[0], raw["amf"], CROP_FIT_PIXELS, stack)
    x = ft.features(target, refs[0], const, cfg.smooth_sigma, cfg.noise_channel, stack)
    valid = x[:, -1]
    slant = column.to(torch.float64) * raw["amf"].to(torch.float64)[:, None, None]
    plume = (fractional_signal(slant).abs() > MASK_THRESHOLD) & clear
    label = plume & (column >= cfg.label_min_column)
    return {"x": x, "mask": label.to(x.dtype) * valid, "column": column, "valid": valid}
