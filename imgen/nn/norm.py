"""Normalisation layers and initialisation of the pix2pix / CycleGAN family, chosen by name.

The conventions are those of the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix,
``models/networks.py``): batch norm is affine and tracks running statistics; instance norm is
*not* affine and does not track statistics, so it normalises with the statistics of the image
itself in training and in evaluation alike. A convolution followed by a norm layer that has its
own shift (batch norm) needs no bias; one followed by instance norm or by nothing keeps it.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["NORM_KINDS", "init_gan_normal", "norm_layer", "uses_bias"]

NORM_KINDS = ("batch", "instance", "none")


def _identity(num_features: int) -> nn.Module:
    return nn.Identity()


def _check_kind(kind: str) -> None:
    if kind not in NORM_KINDS:
        close = difflib.get_close_matches(str(kind), NORM_KINDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown norm {kind!r}; choose one of {', '.join(NORM_KINDS)}.{hint}")


def norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """A factory ``f(num_channels) -> nn.Module`` for the 2-D normalisation named ``kind``.

    Args:
        kind: ``"batch"`` (``BatchNorm2d``, affine, tracking running statistics),
            ``"instance"`` (``InstanceNorm2d``, ``affine=False``, ``track_running_stats=False``,
            as the reference) or ``"none"`` (``nn.Identity``).

    Raises:
        ValueError: for any other name.

    Example:
        >>> inorm = norm_layer("instance")(8)
        >>> inorm.affine, inorm.track_running_stats
        (False, False)
    """
    _check_kind(kind)
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    return _identity


def uses_bias(kind: str) -> bool:
    """Whether a convolution followed by the norm ``kind`` should have a bias.

    Batch norm subtracts the mean and adds its own learned shift, so a bias before it is
    redundant. Instance norm here has no affine shift, so the reference keeps the bias (it is
    removed again by the normalisation, but the reference counts it, and so do we). With no
    norm the bias matters; the reference drops it there too (its ``use_bias`` test only looks for
    instance norm), imgen keeps it.

    Args:
        kind: ``"batch"``, ``"instance"`` or ``"none"``.

    Example:
        >>> uses_bias("batch"), uses_bias("instance"), uses_bias("none")
        (False, True, True)
    """
    _check_kind(kind)
    return kind != "batch"


@torch.no_grad()
def init_gan_normal(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference's default initialisation (``init_type="normal"``, ``init_gain=0.02``).

    Weights of every convolution (transposed ones included) and linear layer are drawn from
    N(0, ``gain``) and their biases set to 0; batch-norm scales are drawn from N(1, ``gain``) and
    their shifts set to 0 (DCGAN, Radford et al. 2016, Sec. 4).

    Args:
        module: the network, modified in place.
        gain: standard deviation of the normal distributions.

    Returns:
        ``module`` itself, for chaining.

    Example:
        >>> conv = init_gan_normal(nn.Conv2d(3, 8, 3))
        >>> bool(conv.bias.abs().sum() == 0)
        True
    """
    for m in module.modules():
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _BatchNorm) and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return module
