"""Unsharp masking of the ground truth, as Real-ESRGAN's ``USMSharp``."""

from __future__ import annotations

import torch
from torch import Tensor

from imgen.data.degradations.blur import border_for

__all__ = ["usm_sharp"]


def _gaussian_1d(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    """OpenCV's ``getGaussianKernel(size, sigma)``: sigma <= 0 means
    ``0.3 * ((size - 1) / 2 - 1) + 0.8``."""
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    kernel = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (kernel / kernel.sum()).to(device=device, dtype=dtype)


def usm_sharp(
    images: Tensor,
    radius: int = 50,
    sigma: float = 0.0,
    weight: float = 0.5,
    threshold: float = 10.0,
) -> Tensor:
    """Sharpen with unsharp masking, only where the detail exceeds a threshold.

    ``residual = x - G * x`` (Gaussian blur of side ``radius``, made odd: 51); the sharpened
    image ``clip(x + weight * residual, 0, 1)`` is blended in through a soft mask, the blurred
    indicator of ``|residual| * 255 > threshold``, so flat areas and noise stay as they were.
    Real-ESRGAN's defaults: radius 50, sigma 0 (OpenCV's rule: 8.0 for 51), weight 0.5,
    threshold 10. The Gaussian is applied separably (the same kernel as its 2-D outer
    product), with reflected borders (replicated on an image too small to reflect).

    Args:
        images: RGB in [0, 1].
        radius: side of the Gaussian kernel (an even value is made odd by adding 1).
        sigma: its standard deviation; 0 or less: OpenCV's rule from the side.
        weight: how much of the residual is added.
        threshold: smallest residual, on the 0..255 scale, that is sharpened.

    Shape:
        - images: :math:`(B, C, H, W)`; Output: the same, in [0, 1].

    Example:
        >>> x = torch.zeros(1, 3, 64, 64); x[..., 32:] = 0.5
        >>> y = usm_sharp(x)
        >>> bool(y[0, 0, 0, 34] > 0.5 and y[0, 0, 0, 29] == 0)  # overshoot at the edge only
        True
    """
    from kornia.filters import filter2d_separable

    size = radius + 1 if radius % 2 == 0 else radius
    kernel = _gaussian_1d(size, sigma, images.dtype, images.device)[None]
    border = border_for(images, size)

    def gaussian(x: Tensor) -> Tensor:
        return filter2d_separable(x, kernel, kernel, border_type=border)

    residual = images - gaussian(images)
    mask = (residual.abs() * 255 > threshold).to(images.dtype)
    soft = gaussian(mask)
    sharp = (images + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * images
