"""resolve_device: auto/cpu/gpu, and `gpu` without a visible CUDA device is refused in one line."""

import pytest
import torch

from eoforge.core.errors import InputError
from eoforge.nn.device import resolve_device


@pytest.mark.parametrize("visible", [False, True])
def test_auto_and_cpu_follow_what_torch_sees(monkeypatch, visible):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: visible)
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("gpu" if visible else "cpu")
    assert resolve_device("AUTO") == resolve_device("auto")


def test_gpu_needs_a_visible_cuda_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("gpu") == resolve_device("cuda") == "gpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError) as err:
        resolve_device("gpu")
    assert str(err.value) == (
        "--device gpu but no CUDA device is visible; use --device cpu or auto."
    )
    with pytest.raises(InputError, match=r"^--accelerator gpu but .* use --accelerator cpu"):
        resolve_device("gpu", option="--accelerator")


def test_unknown_name_names_the_option():
    with pytest.raises(InputError, match="--device 'tpu' is not a device; use auto, cpu or gpu"):
        resolve_device("tpu", option="--device")
