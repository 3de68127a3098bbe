"""Lightning trainer settings shared by the trainers: precision and the DDP strategy.

- ``precision="auto"`` is bf16 mixed precision (autocast: matmuls and convolutions in bfloat16,
  weights, reductions and the optimiser in float32) on a CUDA device that supports bfloat16,
  and full float32 elsewhere. Any Lightning precision string is passed through.
- ``devices > 1`` (or several nodes) trains with DistributedDataParallel: NCCL on GPUs (Lightning
  starts one process per device), and on the CPU gloo in *spawned* processes, so that tests and
  laptops can run DDP. Gradients are averaged over the ranks after every backward pass, so each
  optimiser step sees ``devices x batch_size`` samples.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.pytorch.strategies import DDPStrategy


class CpuSpawnDDP(DDPStrategy):
    """gloo DDP in spawned CPU processes that destroys its process group at teardown.

    A gloo group still alive when a spawned worker's interpreter exits can abort that worker
    (``std::terminate`` from a joinable thread), which fails a finished run at random.
    """

    def __init__(self) -> None:
        super().__init__(process_group_backend="gloo", start_method="spawn")

    def teardown(self) -> None:
        """Lightning's teardown, then the process group of this rank is destroyed."""
        super().teardown()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def resolve_precision(precision: str, gpu: bool) -> str:
    """The Lightning precision of ``precision`` (``"auto"``: module docstring) on this device."""
    if precision != "auto":
        return precision
    return "bf16-mixed" if gpu and torch.cuda.is_bf16_supported() else "32-true"


def trainer_settings(
    gpu: bool, devices: int = 1, num_nodes: int = 1, precision: str = "auto"
) -> dict[str, Any]:
    """Keyword arguments of ``lightning.Trainer``: accelerator, devices, nodes, precision.

    For more than one process, also the DDP strategy of the module docstring.
    """
    kw: dict[str, Any] = {
        "accelerator": "gpu" if gpu else "cpu",
        "devices": devices,
        "num_nodes": num_nodes,
        "precision": resolve_precision(precision, gpu),
    }
    if devices > 1 or num_nodes > 1:
        kw["strategy"] = DDPStrategy() if gpu else CpuSpawnDDP()
    return kw


def spawns_processes(settings: dict[str, Any]) -> bool:
    """Whether :func:`trainer_settings` start spawned ranks, which receive a pickled trainer.

    Its callbacks must then pickle: a live progress bar does not.
    """
    return isinstance(settings.get("strategy"), CpuSpawnDDP)


def process_rank() -> int:
    """Global rank of this training process (0 outside DDP), for seeding per-rank data streams.

    The initialised process group's rank when there is one (also in forked DataLoader workers),
    else ``RANK`` (global, set by torchrun and Lightning's launchers), else ``LOCAL_RANK``. The
    local rank alone would give every node of a multi-node run the same data.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))
