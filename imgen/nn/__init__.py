"""Shared neural-network building blocks: initialisation, residual blocks, upsampling, SN."""

from imgen.nn.blocks import PixelShuffleUpsample, ResidualBlockNoBN, apply_spectral_norm, make_layer
from imgen.nn.init import default_init_weights

__all__ = [
    "PixelShuffleUpsample",
    "ResidualBlockNoBN",
    "apply_spectral_norm",
    "default_init_weights",
    "make_layer",
]
