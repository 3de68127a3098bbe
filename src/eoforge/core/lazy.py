"""Lazy package attributes: heavy submodules (Lightning, diffusers) load on first use."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_getattr(package: str, names: Mapping[str, str]) -> Callable[[str], object]:
    """A module-level ``__getattr__`` that imports ``names[attr]`` when ``attr`` is first used.

    Args:
        package: The package's ``__name__`` (for the error message).
        names: Attribute name -> module that defines it.
    """

    def __getattr__(name: str) -> object:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
