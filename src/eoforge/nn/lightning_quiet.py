"""Lightning without its banners, tips and known-harmless warnings (one rule for every trainer)."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

#: Warnings Lightning gives for choices eoforge makes on purpose (in-memory or simulated data
#: streams, checkpoints into an existing run folder, frozen sub-modules in eval mode).
HARMLESS_WARNINGS = (
    ".*number of training batches.*",
    ".*module\\(s\\) in eval mode.*",
    ".*LeafSpec.*",
    ".*does not have many workers.*",
    ".*num_workers.*",
    ".*IterableDataset.*",
    ".*checkpoint that ended.*",
    ".*litlogger.*",
    ".*Checkpoint directory.*exists and is not empty.*",
)

#: Loggers of the banners ("GPU available: ...", "Tip: ...") and informational messages.
LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's banners, tips and harmless warnings inside the ``with`` block.

    Errors and real warnings still show; the logging levels and warning filters are restored
    afterwards.
    """
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            for pattern in HARMLESS_WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
