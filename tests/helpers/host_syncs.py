"""Count the tensor calls that make the host wait for the device (run on the CPU in tests)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import CodeType

import torch

#: Tensor methods that wait for the device when called on a CUDA tensor.
SYNCING = ("item", "tolist", "__float__", "__int__", "__bool__", "__index__", "cpu", "numpy",
           "__array__")  # fmt: skip


def path_of(code: CodeType) -> str:
    """The file of a code object, with forward slashes."""
    return code.co_filename.replace("\\", "/")


@contextmanager
def count_host_syncs(counted: Callable[[CodeType], bool]) -> Iterator[dict[str, int]]:
    """Patch the syncing methods of ``torch.Tensor``; yields name -> calls whose caller's code
    object satisfies ``counted``."""
    counts = dict.fromkeys(SYNCING, 0)
    saved = {name: getattr(torch.Tensor, name) for name in SYNCING}

    def wrap(name, original):
        def wrapper(self, *args, **kwargs):
            if counted(sys._getframe(1).f_code):
                counts[name] += 1
            return original(self, *args, **kwargs)

        return wrapper

    try:
        for name, original in saved.items():
            setattr(torch.Tensor, name, wrap(name, original))
        yield counts
    finally:
        for name, original in saved.items():
            setattr(torch.Tensor, name, original)
