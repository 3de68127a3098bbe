r"""Dynamic dataset curation during SSL training (Kerdreux et al. 2025, arXiv 2504.06962).

Training alternates between learning on a subset and re-selecting it with the model's own features:

.. math::

    S_t = \operatorname{balanced\_sample}\big(\operatorname{hkm}(f_{\theta_t}(P_t)),
          \lfloor \rho |P_t| \rceil, \eta\big), \qquad
    t = T_w, T_w + T_s, T_w + 2 T_s, \dots

with warm-up :math:`T_w` epochs on the full data, refresh period :math:`T_s`, kept fraction
:math:`\rho` of the pool :math:`P_t` (the whole data set, or a fresh uniform random pool of
``pool_size`` items at every refresh) and the within-cluster rule :math:`\eta`.

Modes (the baselines of the paper's ablation, ``notes/ssl_pruning.md`` Sect. 2.3):

* ``"none"``: always the full data.
* ``"random"``: one uniform random subset of :math:`\rho n` items, drawn once.
* ``"random-redrawn"``: the schedule of ``"dynamic"`` (full data during warm-up, then a new
  selection every ``refresh_every`` epochs) with uniform random subsets instead of curated ones --
  the control for "re-sampling regularises".
* ``"static"``: curated once, at the first epoch (epoch 0), from the embeddings given then (of the
  initial model, or precomputed ones), and kept.
* ``"dynamic"``: full data during warm-up, then re-embedded and re-curated every
  ``refresh_every`` epochs.

Every selection is a deterministic function of ``(seed, epoch)`` and the embeddings, so a resumed
run redraws the same random subsets; :meth:`DynamicCurator.state_dict` also restores curated ones.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, field_validator

from eoforge.core.config import RunConfig
from eoforge.core.errors import ConfigError, DataNotFoundError, ShapeError, bad_value
from eoforge.curation.balanced import balanced_sample
from eoforge.curation.hierarchy import hierarchical_kmeans
from eoforge.curation.selections import selection_stats, write_selection

CurationMode = Literal["none", "random", "random-redrawn", "static", "dynamic"]
Embed = Callable[[np.ndarray], "np.ndarray | torch.Tensor"]

_STREAM_POOL, _STREAM_RANDOM, _STREAM_KMEANS, _STREAM_SAMPLE = range(4)


class CurationConfig(RunConfig):
    r"""Settings of the dynamic curator (every value inferred where the paper gave none).

    Attributes:
        mode: ``"none"``, ``"random"``, ``"random-redrawn"``, ``"static"`` or ``"dynamic"``.
        warmup_epochs: :math:`T_w`, epochs on the full data before the first selection
            (``"dynamic"`` and ``"random-redrawn"``).
        refresh_every: :math:`T_s`, epochs between two selections.
        ratio: :math:`\rho`, fraction of the pool kept, in ``(0, 1]``.
        pool_size: Items embedded and clustered at each refresh (a fresh uniform random pool);
            ``None`` uses the whole data set.
        n_clusters: Hierarchical k-means cluster counts ``(k_1, ..., k_L)``, bottom level first.
        n_resampling: Resampling steps of every level (Vo et al.).
        n_iter: Lloyd iterations of every k-means run.
        eta: Fraction of each leaf quota taken closest to the centroid (0 = uniform random).
        spherical: Cosine k-means on L2-normalised embeddings.
        seed: Seed of every random draw (pools, subsets, k-means, sampling).
    """

    mode: CurationMode = "dynamic"
    warmup_epochs: int = Field(2, ge=0)
    refresh_every: int = Field(2, ge=1)
    ratio: float = Field(0.5, gt=0.0, le=1.0)
    pool_size: int | None = Field(None, ge=1)
    n_clusters: tuple[int, ...] = (64, 8)
    n_resampling: int = Field(5, ge=0)
    n_iter: int = Field(25, ge=1)
    eta: float = Field(0.0, ge=0.0, le=1.0)
    spherical: bool = True
    seed: int = Field(0, ge=0)

    @field_validator("n_clusters")
    @classmethod
    def _decreasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if (
            not value
            or any(k < 1 for k in value)
            or any(b >= a for a, b in itertools.pairwise(value))
        ):
            raise ValueError(
                f"n_clusters={value} must be positive and strictly decreasing, e.g. (64, 8)"
            )
        return value


class DynamicCurator:
    """Decides the training indices of every epoch (see the module docstring for the modes).

    Args:
        config: The :class:`CurationConfig`.
        n_items: Size ``n`` of the training set (indices ``0..n-1``).
        labels: Optional ``(n,)`` integer class labels, only used to log the class counts of every
            selection in :attr:`history` (never used for selecting).
        progress: Optional ``progress(done, total)`` passed to hierarchical k-means.

    Attributes:
        history: One dict per new selection: ``epoch``, ``kind`` (``"full"``, ``"random"`` or
            ``"curated"``), ``n_pool``, ``n_selected``, ``seconds_embedding``,
            ``seconds_clustering``, cluster size statistics (curated selections: level-1 size
            min/median/max, empty clusters, most points kept from one cluster, and the sizes of
            the top-level clusters before (``top_cluster_sizes``) and after
            (``top_cluster_selected``) selection) and
            ``class_counts`` (when ``labels`` were given).
    """

    def __init__(
        self,
        config: CurationConfig,
        n_items: int,
        labels: np.ndarray | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if not isinstance(config, CurationConfig):
            raise bad_value("config", type(config).__name__, "a CurationConfig")
        if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer) or n_items < 1:
            raise bad_value("n_items", n_items, "a positive int (the training set size)")
        self.config = config
        self.n_items = int(n_items)
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (self.n_items,):
                raise ShapeError(f"labels has shape {labels.shape}: expected ({self.n_items},).")
        self.labels = labels
        self.progress = progress
        self.pool_len = min(config.pool_size or self.n_items, self.n_items)
        self.target_size = max(1, round(config.ratio * self.pool_len))
        if config.mode in ("static", "dynamic") and config.n_clusters[0] > self.pool_len:
            raise ConfigError(
                f"n_clusters={config.n_clusters} has k_1={config.n_clusters[0]} clusters for a "
                f"pool of {self.pool_len} items: lower n_clusters or raise pool_size."
            )
        self.history: list[dict[str, Any]] = []
        self._selections: dict[int, np.ndarray] = {}  # epoch made -> packed boolean mask
        self._current: np.ndarray | None = None
        self._last_event: int | None = None

    # -- schedule ---------------------------------------------------------------------------
    def _event_epoch(self, epoch: int) -> int:
        """Epoch at which the selection in force at ``epoch`` is (or was) made by the schedule."""
        mode, cfg = self.config.mode, self.config
        if mode == "none" or mode == "random" or mode == "static":
            return 0
        if epoch < cfg.warmup_epochs:
            return 0  # the full-data warm-up selection
        return (
            cfg.warmup_epochs + (epoch - cfg.warmup_epochs) // cfg.refresh_every * cfg.refresh_every
        )

    def _kind(self, event: int) -> str:
        mode = self.config.mode
        if mode == "none" or (
            mode in ("dynamic", "random-redrawn") and event < self.config.warmup_epochs
        ):
            return "full"
        return "curated" if mode in ("static", "dynamic") else "random"

    def _is_new(self, epoch: int) -> bool:
        if self._current is None:
            return True
        if self.config.mode == "static":
            return False
        return self._event_epoch(epoch) != self._last_event

    def needs_embeddings(self, epoch: int) -> bool:
        """Whether :meth:`indices_for_epoch` will call ``embed`` at ``epoch``."""
        epoch = self._check_epoch(epoch)
        return self._is_new(epoch) and self._kind(self._event_epoch(epoch)) == "curated"

    @staticmethod
    def _check_epoch(epoch: int) -> int:
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
            raise bad_value("epoch", epoch, "a non-negative int")
        return int(epoch)

    def _rng(self, event: int, stream: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.config.seed, event, stream]))

    # -- selection --------------------------------------------------------------------------
    def indices_for_epoch(self, epoch: int, embed: Embed | None = None) -> np.ndarray:
        """Sorted int64 training indices for ``epoch`` (a new selection when one is due).

        Args:
            epoch: Epoch number (0-based).
            embed: ``embed(pool_indices) -> (len(pool), d)`` array of embeddings, required when
                :meth:`needs_embeddings` is true (e.g. the EMA teacher's pooled backbone features).

        Returns:
            The selected indices (a copy).
        """
        epoch = self._check_epoch(epoch)
        if not self._is_new(epoch):
            return self._current.copy()  # type: ignore[union-attr]
        event = self._event_epoch(epoch)
        kind = self._kind(event)
        record: dict[str, Any] = {"epoch": epoch, "mode": self.config.mode, "kind": kind}
        t_embed = t_cluster = 0.0
        if kind == "full":
            selected = np.arange(self.n_items, dtype=np.int64)
            record["n_pool"] = self.n_items
        elif kind == "random":
            rng = self._rng(event if self.config.mode == "random-redrawn" else 0, _STREAM_RANDOM)
            selected = np.sort(rng.choice(self.n_items, self.target_size, replace=False))
            record["n_pool"] = self.pool_len
        else:
            if embed is None:
                raise bad_value(
                    "embed",
                    None,
                    f"a callable embed(pool_indices) -> (n_pool, d) array at epoch {epoch}",
                    f"Mode {self.config.mode!r} curates with the model's embeddings now "
                    "(check needs_embeddings(epoch)).",
                )
            selected, t_embed, t_cluster, stats = self._curate(event, embed)
            record.update(stats, n_pool=self.pool_len)
        record.update(
            n_selected=int(selected.size),
            seconds_embedding=t_embed,
            seconds_clustering=t_cluster,
        )
        if self.labels is not None:
            values, counts = np.unique(self.labels[selected], return_counts=True)
            record["class_counts"] = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
        self._set(epoch, selected.astype(np.int64))
        self.history.append(record)
        return selected.copy()

    def draw_pool(self, event: int) -> np.ndarray:
        """Sorted pool :math:`P_t` of the selection made at ``event``.

        ``pool_len`` items drawn uniformly (all items when ``pool_size`` is unset). Subclasses
        may draw it otherwise (a streaming archive draws whole chunks,
        :class:`eoforge.ssl.stream_data.ChunkPoolCurator`).
        """
        if self.pool_len < self.n_items:
            rng = self._rng(event, _STREAM_POOL)
            return np.sort(rng.choice(self.n_items, self.pool_len, False))
        return np.arange(self.n_items, dtype=np.int64)

    def _curate(self, event: int, embed: Embed) -> tuple[np.ndarray, float, float, dict]:
        cfg = self.config
        pool = self.draw_pool(event)
        t0 = time.perf_counter()
        Z = embed(pool)  # a CUDA tensor stays on its device: hierarchical k-means runs there
        Z = Z if isinstance(Z, torch.Tensor) else np.asarray(Z)
        t_embed = time.perf_counter() - t0
        if Z.ndim != 2 or Z.shape[0] != pool.size:
            raise ShapeError(
                f"embed returned shape {Z.shape} for {pool.size} pool items: expected "
                f"({pool.size}, d)."
            )
        t0 = time.perf_counter()
        hierarchy = hierarchical_kmeans(
            Z,
            cfg.n_clusters,
            n_resampling=cfg.n_resampling,
            n_iter=cfg.n_iter,
            spherical=cfg.spherical,
            seed=self._rng(event, _STREAM_KMEANS),
            progress=self.progress,
        )
        local = balanced_sample(
            hierarchy, self.target_size, eta=cfg.eta, seed=self._rng(event, _STREAM_SAMPLE)
        )
        t_cluster = time.perf_counter() - t0
        return pool[local], t_embed, t_cluster, selection_stats(hierarchy, local)

    def _set(self, epoch: int, selected: np.ndarray) -> None:
        self._current = selected
        self._last_event = self._event_epoch(epoch)
        mask = np.zeros(self.n_items, dtype=bool)
        mask[selected] = True
        self._selections[epoch] = np.packbits(mask)

    # -- persistence ------------------------------------------------------------------------
    def selection_at(self, epoch: int) -> np.ndarray:
        """The indices that were in force at ``epoch`` (the latest selection made at or before)."""
        epoch = self._check_epoch(epoch)
        made = [e for e in self._selections if e <= epoch]
        if not made:
            raise DataNotFoundError(
                f"no selection was made at or before epoch {epoch}; call indices_for_epoch first."
            )
        packed = self._selections[max(made)]
        return np.flatnonzero(np.unpackbits(packed, count=self.n_items)).astype(np.int64)

    def save_selection(self, path: str | os.PathLike[str], epoch: int) -> Path:
        """Write the selection in force at ``epoch`` atomically (``.json``, otherwise ``.npz``).

        The file holds ``indices``, ``epoch``, ``made_at`` (the epoch it was selected at),
        ``mode`` and ``n_items``.
        """
        indices = self.selection_at(epoch)
        made_at = max(e for e in self._selections if e <= epoch)
        meta = {
            "epoch": int(epoch),
            "made_at": made_at,
            "mode": self.config.mode,
            "n_items": self.n_items,
        }
        return write_selection(path, indices, meta)

    def state_dict(self) -> dict[str, Any]:
        """Picklable state (selections and history) for checkpoints."""
        return {
            "selections": {int(e): p.copy() for e, p in self._selections.items()},
            "history": [dict(h) for h in self.history],
            "last_event": self._last_event,
            "n_items": self.n_items,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (after a resume the current selection is the latest one)."""
        if int(state.get("n_items", -1)) != self.n_items:
            raise bad_value("state['n_items']", state.get("n_items"), f"{self.n_items}")
        self._selections = {int(e): np.asarray(p) for e, p in state["selections"].items()}
        self.history = [dict(h) for h in state["history"]]
        self._last_event = state["last_event"]
        self._current = self.selection_at(max(self._selections)) if self._selections else None
