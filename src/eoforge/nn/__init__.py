"""Shared torch parts: encoders (ViT, ResNet in plain torch) and the EMA of weights."""

from eoforge.nn.ema import EMA, warmup_decay
from eoforge.nn.encoders import build_encoder, embed_dim
from eoforge.nn.resnet import ResNet
from eoforge.nn.vit import VisionTransformer

__all__ = ["EMA", "ResNet", "VisionTransformer", "build_encoder", "embed_dim", "warmup_decay"]
