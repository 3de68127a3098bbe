"""Encoders: shapes for one-channel input, position-embedding interpolation, attention vs torch."""

import pytest
import torch
from torch import nn

from eoforge.core.errors import InputError, ShapeError
from eoforge.nn.encoders import build_encoder
from eoforge.nn.vit import Attention

torch.set_num_threads(1)


@pytest.mark.parametrize("name", ["vit-tiny/8", "vit-tiny/16", "vit-small/8", "vit-small/16"])
def test_vit_names_standard_widths(name):
    enc = build_encoder(name, img_size=32, depth=1)
    assert enc.embed_dim == (192 if "tiny" in name else 384)
    assert enc.patch_size == int(name.split("/")[1])
    y = enc(torch.randn(2, 1, 32, 32))
    assert y.shape == (2, enc.embed_dim) and y.dtype == torch.float32


def test_vit_handles_local_crops_and_channels():
    enc = build_encoder("vit-tiny/8", in_chans=2, img_size=32, embed_dim=32, depth=2)
    assert enc(torch.randn(3, 2, 16, 16)).shape == (3, 32)  # 2x2 grid, interpolated positions
    assert enc.forward_tokens(torch.randn(1, 2, 32, 32)).shape == (1, 1 + 16, 32)
    with pytest.raises(ShapeError, match="multiple of patch"):
        enc(torch.randn(1, 2, 20, 20))
    with pytest.raises(ShapeError, match="batch, 2"):
        enc(torch.randn(1, 1, 32, 32))


def test_vit_position_interpolation_is_identity_at_native_size():
    enc = build_encoder("vit-tiny/8", img_size=32, embed_dim=32, depth=1)
    torch.testing.assert_close(enc._pos_embed(4, 4), enc.pos_embed)
    with torch.no_grad():
        enc.pos_embed.fill_(0.25)  # a constant table stays constant after bicubic resizing
    table = enc._pos_embed(2, 3)
    assert table.shape == (1, 1 + 6, 32)
    torch.testing.assert_close(table, torch.full_like(table, 0.25))


def test_attention_matches_torch_multihead():
    torch.manual_seed(0)
    att = Attention(16, 4)
    ref = nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(att.qkv.weight)
        ref.in_proj_bias.copy_(att.qkv.bias)
        ref.out_proj.weight.copy_(att.proj.weight)
        ref.out_proj.bias.copy_(att.proj.bias)
    x = torch.randn(2, 5, 16)
    torch.testing.assert_close(att(x), ref(x, x, x, need_weights=False)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("name", "dim"), [("resnet", 256), ("resnet18", 512)])
def test_resnet_pooled_features(name, dim):
    enc = build_encoder(name)
    assert enc.embed_dim == dim
    assert enc(torch.randn(2, 1, 24, 24)).shape == (2, dim)
    assert enc(torch.randn(2, 1, 16, 16)).shape == (2, dim)
    with pytest.raises(ShapeError):
        enc(torch.randn(2, 3, 16, 16))


def test_unknown_encoder_names_the_choices():
    with pytest.raises(InputError, match="vit-tiny/8"):
        build_encoder("vit-huge/14")
    with pytest.raises(InputError, match="img_size"):
        build_encoder("vit-tiny/16", img_size=40)
