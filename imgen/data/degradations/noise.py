"""Gaussian and Poisson noise of Real-ESRGAN's degradation model, from a given generator.

Each function takes one sample's image and a ``torch.Generator`` on its device, so a
sample's noise depends on its seed alone, not on the batch it travels in. Values are in
[0, 1]; Gaussian sigmas are on the 0..255 scale, as in Real-ESRGAN's options.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["add_noise", "gaussian_noise", "poisson_noise"]


def gaussian_noise(
    image: Tensor, sigma: float, *, gray: bool = False, generator: torch.Generator | None = None
) -> Tensor:
    """Zero-mean Gaussian noise of standard deviation ``sigma / 255``.

    Args:
        image: the image the noise is for (its shape, dtype and device).
        sigma: standard deviation on the 0..255 scale.
        gray: one noise plane shared by every channel (luminance noise) instead of one per
            channel (colour noise).
        generator: the sample's generator, on ``image``'s device.

    Shape:
        - image: :math:`(B, C, H, W)`.
        - Output: :math:`(B, C, H, W)`, the noise (not the noisy image).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> n = gaussian_noise(torch.zeros(1, 3, 256, 256), 10.0, generator=g)
        >>> round(float(n.std() * 255))
        10
    """
    b, c, h, w = image.shape
    shape = (b, 1, h, w) if gray else (b, c, h, w)
    noise = torch.randn(shape, generator=generator, device=image.device, dtype=image.dtype)
    return (noise * (sigma / 255.0)).expand(b, c, h, w)


def _levels(image: Tensor) -> Tensor:
    """``2 ** ceil(log2(n))`` with ``n`` the distinct 8-bit levels of each sample (BasicSR).

    ``image`` holds 8-bit levels (``k / 255``); they are counted with a histogram, which is
    what ``torch.unique`` gives at a tenth of its cost (no sort)."""
    codes = (image * 255).round().long().flatten(1)
    counts = [int(torch.bincount(c, minlength=256).count_nonzero()) for c in codes]
    return image.new_tensor([2.0 ** math.ceil(math.log2(n)) for n in counts]).view(-1, 1, 1, 1)


def poisson_noise(
    image: Tensor, scale: float, *, gray: bool = False, generator: torch.Generator | None = None
) -> Tensor:
    """Signal-dependent (shot) noise: ``scale * (Poisson(v x) / v - x)``.

    As Real-ESRGAN: ``x`` is the image rounded to 8-bit levels, ``v`` is the number of
    distinct levels of each sample rounded up to a power of two, so the noise's variance at a
    pixel of value ``x`` is ``scale² x / v``. With ``gray`` the noise is computed on the
    luminance (BT.601 weights) and shared by the channels.

    Args:
        image: values in [0, 1].
        scale: noise scale.
        gray: luminance noise shared by the channels instead of colour noise.
        generator: the sample's generator, on ``image``'s device.

    Shape:
        - image: :math:`(B, C, H, W)`.
        - Output: :math:`(B, C, H, W)`, the noise.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.full((1, 3, 64, 64), 0.5)
        >>> bool(poisson_noise(x, 1.0, generator=g).abs().mean() > 0)
        True
    """
    source = image
    if gray:
        from kornia.color import rgb_to_grayscale

        source = rgb_to_grayscale(image)
    source = (source * 255.0).round().clamp(0, 255) / 255.0
    levels = _levels(source)
    noisy = torch.poisson(source * levels, generator=generator) / levels
    return ((noisy - source) * scale).expand_as(image)


def add_noise(
    image: Tensor,
    *,
    gaussian: bool,
    sigma: float,
    poisson_scale: float,
    gray: bool,
    generator: torch.Generator | None = None,
) -> Tensor:
    """``image`` plus Gaussian (``gaussian``) or else Poisson noise, clipped to [0, 1].

    Shape:
        - image: :math:`(B, C, H, W)`; Output: the same.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = add_noise(torch.rand(1, 3, 8, 8), gaussian=True, sigma=30.0,
        ...               poisson_scale=1.0, gray=False, generator=g)
        >>> float(y.min()) >= 0 and float(y.max()) <= 1
        True
    """
    if gaussian:
        noise = gaussian_noise(image, sigma, gray=gray, generator=generator)
    else:
        noise = poisson_noise(image, poisson_scale, gray=gray, generator=generator)
    return (image + noise).clamp(0, 1)
