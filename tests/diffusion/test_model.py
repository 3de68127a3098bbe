"""The U-Net wrapper: diffusers architecture mapping, output channels, class conditioning."""

import pytest
import torch

from eoforge.core.errors import ConfigError, InputError, ShapeError
from eoforge.diffusion import NoiseSchedule, sample
from eoforge.diffusion.model import DiffusionUNet, UNetConfig, count_parameters

torch.set_num_threads(1)


def tiny(**kw):
    base = dict(image_size=8, block_out_channels=(8, 16), attention_levels=(1,))
    return UNetConfig(**{**base, **kw})


def test_matches_a_hand_built_diffusers_unet():
    from diffusers import UNet2DModel

    cfg = tiny(in_channels=2, learned_variance=True, num_classes=3)
    torch.manual_seed(0)
    ours = DiffusionUNet(cfg).eval()
    ref = UNet2DModel(
        sample_size=8, in_channels=2, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8, attention_head_dim=8,
        num_class_embeds=3, resnet_time_scale_shift="scale_shift",
    ).eval()  # fmt: skip
    ref.load_state_dict(ours.unet.state_dict(), strict=True)
    x = torch.randn(3, 2, 8, 8, generator=torch.Generator().manual_seed(1))
    t, y = torch.tensor([0, 5, 99]), torch.tensor([0, 2, 1])
    with torch.no_grad():
        out = ours(x, t, class_labels=y)
        assert out.shape == (3, 4, 8, 8)
        assert torch.allclose(out, ref(x, t, class_labels=y).sample)
    assert count_parameters(ours) == sum(p.numel() for p in ref.parameters())


def test_class_labels_condition_the_output_and_are_validated():
    torch.manual_seed(0)
    model = DiffusionUNet(tiny(num_classes=4)).eval()
    torch.nn.init.normal_(model.unet.class_embedding.weight, std=1.0)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 3])
    with torch.no_grad():
        a = model(x, t, class_labels=torch.tensor([0, 0]))
        b = model(x, t, class_labels=torch.tensor([1, 1]))
    assert not torch.allclose(a, b)
    with pytest.raises(InputError, match="class-conditional"):
        model(x, t)
    with pytest.raises(InputError, match=r"\[0, 4\)"):
        model(x, t, class_labels=torch.tensor([0, 4]))
    uncond = DiffusionUNet(tiny())
    with pytest.raises(InputError, match="unconditional"):
        uncond(x, t, class_labels=torch.tensor([0, 0]))
    with pytest.raises(ShapeError, match="x_t"):
        uncond(torch.randn(2, 3, 8, 8), t)


def test_learned_variance_model_works_with_the_samplers():
    torch.manual_seed(0)
    model = DiffusionUNet(tiny(learned_variance=True)).eval()
    sched = NoiseSchedule.cosine(20)
    with torch.no_grad():
        x = sample(model, sched, (2, 1, 8, 8), sampler="ddpm", steps=5, generator=0,
                   variance="learned_range", clip_denoised=3.0)  # fmt: skip
    assert x.shape == (2, 1, 8, 8) and torch.isfinite(x).all()


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(block_out_channels=(8, 12)), "norm_num_groups"),
        (dict(image_size=10, block_out_channels=(8, 16, 16)), "divisible"),
        (dict(attention_levels=(2,)), "attention_levels"),
        (dict(num_classes=0), "num_classes"),
    ],
)
def test_config_errors_name_the_field(kw, match):
    with pytest.raises((ConfigError, ValueError), match=match):
        tiny(**kw)
