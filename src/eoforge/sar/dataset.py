"""A torch ``Dataset`` over a :class:`~eoforge.sar.wv.WVSet` returning dicts of tensors.

Each item is ``{"image": (1, H, W) float32, "label": int64, "wind_speed": float32,
"hs": float32, "index": int64}`` (torchgeo style). With a fitted
:class:`~eoforge.sar.normalise.DbNormaliser` the image is its standardised-dB transform, otherwise
the linear sigma0 (a normaliser fitted per beam uses ``WVSet.incidence``); ``transform`` (if
given) is applied to the whole dict last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from eoforge.core.errors import InputError, bad_value
from eoforge.sar.normalise import DbNormaliser
from eoforge.sar.wv import WVSet


class WVDataset(Dataset):
    """Indexable view of a :class:`WVSet` for torch ``DataLoader``.

    Args:
        wvset: The imagettes.
        normaliser: Optional fitted :class:`DbNormaliser` applied to each image.
        transform: Optional callable ``dict -> dict`` applied to each item (augmentations).
    """

    def __init__(
        self,
        wvset: WVSet,
        normaliser: DbNormaliser | None = None,
        transform: Callable[[dict[str, torch.Tensor]], dict[str, Any]] | None = None,
    ) -> None:
        if not isinstance(wvset, WVSet):
            raise bad_value("wvset", type(wvset).__name__, "an eoforge.sar.wv.WVSet")
        if normaliser is not None and not isinstance(normaliser, DbNormaliser):
            raise bad_value("normaliser", type(normaliser).__name__, "a DbNormaliser or None")
        if transform is not None and not callable(transform):
            raise bad_value("transform", transform, "a callable taking and returning a dict")
        self.wvset = wvset
        self.normaliser = normaliser
        self.transform = transform
        self._grouped = normaliser is not None and getattr(normaliser, "groups_", None) is not None
        if self._grouped and wvset.incidence is None:
            raise InputError(
                "the normaliser was fitted per beam (groups) but this WVSet has no incidence "
                "angles; use a normaliser fitted without groups."
            )
        if normaliser is not None:  # fails early if not fitted or a beam is unknown
            inc = wvset.incidence
            groups = inc[:1] if self._grouped and inc is not None else None
            normaliser.transform(np.ones((1, 1, 1), dtype=np.float32), groups=groups)

    def __len__(self) -> int:
        return len(self.wvset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.wvset)
        if not -n <= int(index) < n:
            raise IndexError(f"index {index} out of range for a WVDataset of {n} imagettes")
        i = int(index) % n
        img = self.wvset.images[i]  # (H, W)
        if self.normaliser is not None:
            inc = self.wvset.incidence
            groups = inc[i] if self._grouped and inc is not None else None
            img = self.normaliser.transform(img, groups=groups)
        item: dict[str, Any] = {
            "image": torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None],
            "label": torch.tensor(int(self.wvset.labels[i]), dtype=torch.int64),
            "wind_speed": torch.tensor(float(self.wvset.wind_speed[i]), dtype=torch.float32),
            "hs": torch.tensor(float(self.wvset.hs[i]), dtype=torch.float32),
            "index": torch.tensor(i, dtype=torch.int64),
        }
        if self.transform is not None:
            item = self.transform(item)
        return item
