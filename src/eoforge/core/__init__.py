"""Shared infrastructure: configs, run folders, atomic writes, reports, errors, seeding, progress."""

from eoforge.core.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
)
from eoforge.core.config import RunConfig
from eoforge.core.errors import (
    ConfigError,
    DataNotFoundError,
    EoforgeError,
    InputError,
    ShapeError,
)
from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.core.seeding import as_generator, torch_generator

__all__ = [
    "ConfigError",
    "DataNotFoundError",
    "EoforgeError",
    "InputError",
    "Report",
    "RunConfig",
    "RunDir",
    "ShapeError",
    "as_generator",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "torch_generator",
]
