import numpy as np
import pytest

from eoforge.core.errors import InputError
from eoforge.core.seeding import as_generator, spawn_seeds, torch_generator


def test_generators_are_reproducible():
    assert as_generator(3).random() == as_generator(3).random()
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    assert spawn_seeds(0, 4) == spawn_seeds(0, 4)
    assert len(set(spawn_seeds(0, 4))) == 4


def test_torch_generator_reproducible():
    import torch

    a = torch.randn(3, generator=torch_generator(7))
    b = torch.randn(3, generator=torch_generator(7))
    assert torch.equal(a, b)


def test_bad_seed():
    with pytest.raises(InputError, match="random_state"):
        as_generator("seven")
    with pytest.raises(InputError, match="non-negative"):
        as_generator(-1)
