"""Deep plume detector: features, U-Net, training on synthetic plumes, tiled inference, weights."""

from eoforge.methane.detector.features import build_inputs, channel_names, n_channels
from eoforge.methane.detector.infer import predict
from eoforge.methane.detector.model import PlumeUNet, UNetSpec
from eoforge.methane.detector.weights import (
    Detector,
    load_default_detector,
    load_detector,
    save_detector,
)

__all__ = [
    "Detector",
    "PlumeUNet",
    "UNetSpec",
    "build_inputs",
    "channel_names",
    "load_default_detector",
    "load_detector",
    "n_channels",
    "predict",
    "save_detector",
]
