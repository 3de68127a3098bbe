"""Which device a trainer runs on: one rule shared by every ``--device`` option.

``auto`` takes the GPU when torch sees a CUDA device and the CPU otherwise; ``cpu`` always runs on
the CPU; ``gpu`` (or ``cuda``) requires a visible CUDA device and refuses to fall back silently.
"""

from __future__ import annotations

from typing import Literal

import torch

from eoforge.core.errors import InputError

_NAMES = {"auto": "auto", "cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}


def resolve_device(name: str, option: str = "--device") -> Literal["cpu", "gpu"]:
    """The device a run asked for as ``name`` will use: ``"cpu"`` or ``"gpu"``.

    Args:
        name: ``"auto"``, ``"cpu"``, ``"gpu"`` (or its alias ``"cuda"``), any case.
        option: The option as the user typed it, named in the error messages.

    Returns:
        ``"gpu"`` for ``gpu``, or for ``auto`` when a CUDA device is visible; else ``"cpu"``.

    Raises:
        InputError: If ``name`` is unknown, or ``gpu`` is asked for and no CUDA device is visible.
    """
    kind = _NAMES.get(str(name).strip().lower())
    if kind is None:
        raise InputError(f"{option} {name!r} is not a device; use auto, cpu or gpu.")
    if kind == "cpu":
        return "cpu"
    visible = torch.cuda.is_available()
    if kind == "gpu" and not visible:
        raise InputError(f"{option} gpu but no CUDA device is visible; use {option} cpu or auto.")
    return "gpu" if visible else "cpu"
