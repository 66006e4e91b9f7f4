"""Shared neural-network building blocks: initialisation, norms, residual blocks, upsampling, SN,
and the pix2pix / CycleGAN networks that several tasks share (ResNet generator, PatchGAN).

The names below load on first use, so that importing a torch-free submodule
(``imgen.nn.scaling``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "PixelShuffleUpsample": "blocks",
    "ResidualBlockNoBN": "blocks",
    "apply_spectral_norm": "blocks",
    "make_layer": "blocks",
    "default_init_weights": "init",
    "NORM_KINDS": "norm",
    "init_gan_normal": "norm",
    "norm_layer": "norm",
    "uses_bias": "norm",
    "PatchGAN": "patchgan",
    "PixelGAN": "patchgan",
    "receptive_field": "patchgan",
    "ResnetBlock": "resnet_generator",
    "ResnetGenerator": "resnet_generator",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'imgen.nn' has no attribute {name!r}")
    return getattr(importlib.import_module(f"imgen.nn.{_WHERE[name]}"), name)
