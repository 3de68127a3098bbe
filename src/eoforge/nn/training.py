"""What every trainer repeats: seeded initialisation, the checkpoint to resume from, weight files.

One rule each for the SSL, methane-detector and diffusion trainers (Lightning's banners are
silenced by :func:`eoforge.nn.lightning_quiet.quiet_lightning`, the run's settings are compared
by :func:`eoforge.core.resume.check_resume`):

* :func:`seeded` -- a network built inside ``with seeded(s):`` draws its initial weights from the
  CPU generator seeded by ``s``, so the weights are a function of ``s`` alone; the caller's global
  generator state is restored afterwards (the block leaves no trace on the CPU stream).
* :func:`resume_checkpoint` -- ``RUN/checkpoints/last.ckpt`` when it exists (Lightning's
  ``ckpt_path``), else ``None`` (a fresh start).
* :func:`save_weights` -- a state dict written as safetensors atomically (temporary file, then
  rename), tensors detached, on the CPU and contiguous, optional string metadata.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from eoforge.core.atomic import atomic_path

#: File name of the checkpoint a run resumes from (Lightning's ``save_last``).
LAST_CHECKPOINT = "last.ckpt"


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed the global torch generator with ``seed`` inside the block, then restore the CPU one.

    Args:
        seed: The seed (``torch.manual_seed``).

    Yields:
        Nothing; build the network inside the block.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def resume_checkpoint(checkpoints: Path) -> str | None:
    """The checkpoint to resume from: ``checkpoints/last.ckpt`` as a string, or ``None``.

    Args:
        checkpoints: The run's checkpoint folder (``RunDir.checkpoints``).
    """
    last = Path(checkpoints) / LAST_CHECKPOINT
    return str(last) if last.is_file() else None


def state_tensors(weights: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A module's state dict (or a mapping of tensors) detached, on the CPU and contiguous."""
    state = weights.state_dict() if isinstance(weights, nn.Module) else weights
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def save_weights(
    weights: nn.Module | Mapping[str, torch.Tensor],
    path: str | os.PathLike[str],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a module's state dict (or named tensors) to a safetensors file, atomically.

    Args:
        weights: The module, or the tensors by name.
        path: Destination ``.safetensors`` file (its folder is created).
        metadata: Optional string metadata of the file header.

    Returns:
        ``path``.
    """
    with atomic_path(path) as tmp:
        save_file(state_tensors(weights), str(tmp), metadata=metadata)
    return Path(path)
