"""The Lightning module of detector training: the U-Net, its start, the step and the optimiser.

The network (:class:`~eoforge.methane.detector.model.PlumeUNet`) starts either from a seeded
initialisation (a function of ``seed`` alone) or from given detector weights (``init``,
fine-tuning); weights without the noise channel or the K-date reference-stack channels get them
inserted with zero weights, so that step 0 computes what the given detector computes. A training
step scores the two heads with :func:`.loss.detector_loss`; raw bank batches become inputs and
labels on the training device first (:func:`.bank_stream.make_inputs`).

AdamW (fused on CUDA) with a linear warm-up over w = min(100, steps // 10 + 1) steps and a cosine
decay to zero at ``steps``:

    lr(t) = lr (t + 1) / w                                     for t < w,
    lr(t) = lr (1 + cos(pi min(1, (t - w) / max(1, steps - w)))) / 2   after.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig

from eoforge.core.errors import InputError
from eoforge.methane.detector.features import channel_names
from eoforge.methane.detector.model import PlumeUNet, UNetSpec, insert_input_channel, n_parameters
from eoforge.methane.detector.training.bank_stream import RawBatch, make_inputs
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.detector.training.loss import TrainBatch, detector_loss
from eoforge.methane.detector.weights import Detector, load_detector
from eoforge.nn.training import seeded


def warmup_cosine(step: int, total: int) -> float:
    """The learning-rate factor lr(t) / lr of the module docstring at step ``step`` of ``total``."""
    warm = min(100, total // 10 + 1)
    if step < warm:
        return (step + 1) / warm
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))


def _with_new_channels(start: Detector, config: DetectorConfig) -> tuple[PlumeUNet, int]:
    """The init network with the channels this run adds (zero weights), and its K after that."""
    net, k_init = start.model, start.reference_dates
    if config.noise_channel and not start.noise:  # add the channel, zero weights
        names = channel_names(start.context, start.smooth, True, start.reference_dates)
        net = insert_input_channel(net, names.index("noise"))
    if config.reference_dates > 1 and start.reference_dates == 1:
        # Single-date weights: the reference-stack channels come in with zero weights,
        # so step 0 computes what the single-date detector computes on the pair channels.
        names = channel_names(start.context, start.smooth, config.noise_channel,
                              config.reference_dates)  # fmt: skip
        for i in (i for i, n in enumerate(names) if n.endswith("_stack")):
            net = insert_input_channel(net, i)
        k_init = config.reference_dates  # the stack channels are there now
    return net, k_init


def init_network(path: str, spec: UNetSpec, config: DetectorConfig) -> PlumeUNet:
    """The detector weights at ``path`` as the starting network of this run (fine-tuning).

    Args:
        path: Detector weights (``--init``).
        spec: The architecture this run trains.
        config: The run's configuration (context bands, smoothing, noise channel, K).

    Returns:
        The network, with the noise or reference-stack channels inserted when the run adds them.

    Raises:
        InputError: The weights' architecture or input features differ from the run's.
    """
    start = load_detector(path)
    net, k_init = _with_new_channels(start, config)
    same = (net.spec == spec and tuple(start.context) == tuple(config.context)
            and float(start.smooth) == float(config.smooth_sigma)
            and (start.noise <= config.noise_channel)
            and k_init == config.reference_dates)  # fmt: skip
    if not same:
        raise InputError(
            f"init weights {path!r} have spec {start.model.spec}, context {start.context}, "
            f"smooth {start.smooth}, noise channel {start.noise} and reference dates "
            f"{start.reference_dates}; this run needs {spec}, {tuple(config.context)}, "
            f"{config.smooth_sigma}, {config.noise_channel} and "
            f"{config.reference_dates}: set architecture/widths/blocks/context/"
            "smooth_sigma/noise_channel/reference_dates to match them."
        )
    return net


class DetectorModule(L.LightningModule):
    """Lightning wrapper: the U-Net, the loss and AdamW with a cosine schedule.

    Args:
        config: The training configuration.
    """

    #: The forward pass: the network, or its torch.compile'd form (:meth:`setup`).
    _forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        names = channel_names(config.context, config.smooth_sigma, config.noise_channel,
                              config.reference_dates)  # fmt: skip
        prior = names.index("col_mbmp_smooth") if config.smooth_sigma > 0 else None
        spec = config.spec(len(names), prior)
        with seeded(config.seed):  # no trace on the global torch generator
            self.net = PlumeUNet(spec)
        if config.init is not None:
            self.net.load_state_dict(init_network(config.init, spec, config).state_dict())
        self.n_parameters = n_parameters(self.net)
        # Kept out of the submodules so that the state dict and checkpoints keep the network's
        # names only.
        self.__dict__["_forward"] = self.net

    def setup(self, stage: str) -> None:
        """channels_last and torch.compile (config flags) on the training device's network."""
        if self.config.channels_last:
            # Module.to converts 4-D parameters with memory_format; torch's overloads omit it.
            self.net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if self.config.compile:  # the state dict keeps the network's names
            self.__dict__["_forward"] = torch.compile(self.net)

    def on_after_batch_transfer(
        self, batch: RawBatch | TrainBatch, dataloader_idx: int
    ) -> TrainBatch:
        """Bank batches become inputs and labels here, on the training device."""
        return make_inputs(batch, self.config) if "bands" in batch else batch

    def training_step(self, batch: TrainBatch, batch_idx: int) -> torch.Tensor:
        """The loss of one batch; its parts are logged as device tensors (no host read)."""
        x = batch["x"]  # (B, C, H, W)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits, column = self._forward(x)
        loss, parts = detector_loss(logits, column, batch, self.config)
        # Device tensors: Lightning reads them (one host sync) only every log_every steps.
        # (prog_bar=True would convert the loss to a float after every step.)
        self.log("loss", loss.detach())
        self.log_dict({f"loss_{k}": v for k, v in parts.items()})
        return loss

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """AdamW (fused on CUDA) and the warm-up + cosine schedule, stepped every step."""
        fused = True if self.device.type == "cuda" else None  # one kernel per step on CUDA
        opt = torch.optim.AdamW(
            self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay,
            fused=fused,
        )  # fmt: skip
        total = self.config.steps

        def lr_at(step: int) -> float:
            return warmup_cosine(step, total)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
