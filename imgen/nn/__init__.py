"""Shared neural-network building blocks: initialisation, norms, residual blocks, upsampling, SN,
and the pix2pix / CycleGAN networks that several tasks share (ResNet generator, PatchGAN)."""

from imgen.nn.blocks import PixelShuffleUpsample, ResidualBlockNoBN, apply_spectral_norm, make_layer
from imgen.nn.init import default_init_weights
from imgen.nn.norm import NORM_KINDS, init_gan_normal, norm_layer, uses_bias
from imgen.nn.patchgan import PatchGAN, PixelGAN, receptive_field
from imgen.nn.resnet_generator import ResnetBlock, ResnetGenerator

__all__ = [
    "NORM_KINDS",
    "PatchGAN",
    "PixelGAN",
    "PixelShuffleUpsample",
    "ResidualBlockNoBN",
    "ResnetBlock",
    "ResnetGenerator",
    "apply_spectral_norm",
    "default_init_weights",
    "init_gan_normal",
    "make_layer",
    "norm_layer",
    "receptive_field",
    "uses_bias",
]
