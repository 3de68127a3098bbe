"""Save and load a plume detector: tensors as safetensors, architecture + settings as JSON.

A detector is two files side by side: ``NAME.safetensors`` (the :class:`PlumeUNet` state dict)
and ``NAME.json`` (``{"spec": UNetSpec, "context": [...], "config": DetectorConfig or {}}``).
The default detector ships in the package as ``eoforge/methane/weights/detector.*``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from eoforge.core.atomic import atomic_path, atomic_write_json
from eoforge.core.errors import DataNotFoundError, InputError
from eoforge.methane.detector.features import DEFAULT_CONTEXT
from eoforge.methane.detector.model import PlumeUNet, UNetSpec
from eoforge.methane.detector.rates import RateCalibration


@dataclass
class Detector:
    """A trained network with the feature settings it was trained with.

    Attributes:
        model: The network (in eval mode).
        context: Context bands of its input features.
        config: The training configuration (a plain dict), for provenance.
        smooth: Sigma of the smoothed MBMP column channel (0: none); see :mod:`.features`.
        threshold: Default plume-probability threshold of
            :func:`eoforge.methane.detect.pipeline.detect`: the one that meets the
            false-positive budget on held-out plume-free scenes (``eoforge methane calibrate``
            sets it), 0.5 when never calibrated.
        rate_calibration: U_eff = a U10 + b and the mask growth for emission rates from this
            detector's masks (:mod:`.rates`; ``eoforge methane calibrate`` sets it); the
            generic IME calibration with no growth when never calibrated.
        calibration: Provenance of the threshold and rate calibration (plain text per item).
        noise: Whether the inputs include the scene noise-level channel (:mod:`.features`).
        reference_dates: K, the reference dates the network sees at once (K > 1: the stack
            channels of :mod:`.features`; ``detect`` then needs exactly K references).
    """

    model: PlumeUNet
    context: tuple[str, ...] = DEFAULT_CONTEXT
    config: dict = field(default_factory=dict)
    smooth: float = 0.0
    threshold: float = 0.5
    rate_calibration: RateCalibration = field(default_factory=RateCalibration)
    calibration: dict = field(default_factory=dict)
    noise: bool = False
    reference_dates: int = 1


def save_detector(detector: Detector, path: str | os.PathLike[str]) -> Path:
    """Write ``PATH.safetensors`` and ``PATH.json`` atomically; returns the safetensors path."""
    base = Path(path).with_suffix("")
    tensors = {k: v.detach().cpu().contiguous() for k, v in detector.model.state_dict().items()}
    st = base.with_suffix(".safetensors")
    with atomic_path(st) as tmp:
        save_file(tensors, str(tmp))
    meta = {
        "format": "eoforge-methane-detector/1",
        "spec": detector.model.spec.to_dict(),
        "context": list(detector.context),
        "smooth": detector.smooth,
        "noise_channel": detector.noise,
        "reference_dates": detector.reference_dates,
        "threshold": detector.threshold,
        "rate_calibration": detector.rate_calibration.to_dict(),
        "calibration": detector.calibration,
        "config": detector.config,
    }
    atomic_write_json(base.with_suffix(".json"), meta)
    return st


def load_detector(path: str | os.PathLike[str]) -> Detector:
    """Load a detector saved by :func:`save_detector` (give either file or the common stem).

    Raises:
        DataNotFoundError: If either file is missing.
        InputError: If the files do not describe a detector.
    """
    base = (
        Path(path).with_suffix("") if Path(path).suffix in (".json", ".safetensors") else Path(path)
    )
    st, js = base.with_suffix(".safetensors"), base.with_suffix(".json")
    for f in (st, js):
        if not f.is_file():
            raise DataNotFoundError(
                f"detector file {str(f)!r} does not exist; pass the path of a NAME.safetensors "
                "written by 'eoforge methane train' (with NAME.json beside it)."
            )
    try:
        meta = json.loads(js.read_text())
        spec = UNetSpec.from_dict(meta["spec"])
    except (KeyError, ValueError, TypeError) as err:
        raise InputError(f"{str(js)!r} is not a detector description ({err}).") from None
    model = PlumeUNet(spec)
    try:
        model.load_state_dict(load_file(str(st)))
    except RuntimeError as err:
        raise InputError(f"weights {str(st)!r} do not match {str(js)!r}: {err}") from None
    model.eval()
    return Detector(
        model,
        tuple(meta.get("context", DEFAULT_CONTEXT)),
        meta.get("config", {}),
        float(meta.get("smooth", 0.0)),
        float(meta.get("threshold", 0.5)),
        RateCalibration.from_dict(meta.get("rate_calibration")),
        dict(meta.get("calibration", {})),
        bool(meta.get("noise_channel", False)),
        int(meta.get("reference_dates", 1)),
    )


def default_weights_path() -> Path:
    """Path of the shipped ``detector.safetensors`` (inside the installed package)."""
    return Path(str(resources.files("eoforge.methane").joinpath("weights", "detector.safetensors")))


def load_default_detector() -> Detector:
    """Load the detector that ships with eoforge (``eoforge/methane/weights/detector.*``)."""
    return load_detector(default_weights_path())


def set_threads(n: int | None = None) -> int:
    """Use ``n`` torch threads (default: all cores available to this process); returns n."""
    if n is None:
        n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = max(1, int(n or 1))
    torch.set_num_threads(n)
    return n
