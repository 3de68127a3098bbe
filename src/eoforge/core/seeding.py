"""Explicit random generators: eoforge never touches a global RNG.

Every function that draws random numbers takes ``random_state`` (an int, ``None`` or a
``numpy.random.Generator``) and turns it into a generator with :func:`as_generator`; torch code
takes a ``torch.Generator`` built by :func:`torch_generator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from eoforge.core.errors import bad_value

if TYPE_CHECKING:
    import torch

RandomState = int | np.random.Generator | None


def as_generator(random_state: RandomState) -> np.random.Generator:
    """Return a NumPy generator from an int seed, an existing generator or ``None`` (fresh entropy)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, int | np.integer):
        if random_state is not None and random_state < 0:
            raise bad_value("random_state", random_state, "a non-negative int", "Use e.g. 0.")
        return np.random.default_rng(random_state)
    raise bad_value("random_state", random_state, "an int, None or numpy.random.Generator")


def spawn_seeds(random_state: RandomState, n: int) -> list[int]:
    """Derive ``n`` independent integer seeds (for workers, replicates or models)."""
    rng = as_generator(random_state)
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded ``torch.Generator`` on ``device``."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed))
    return gen
