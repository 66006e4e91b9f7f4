"""Unsharp masking of the ground truth, as Real-ESRGAN's ``USMSharp``."""

from __future__ import annotations

from functools import lru_cache

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


# Up to this side the Gaussian is applied as two dense (n, n) matrices (a few matrix products,
# fast on any device); above it as a separable convolution.
_MATRIX_SIDE = 1024


@lru_cache(maxsize=32)
def _blur_matrix(n: int, size: int, sigma: float) -> Tensor:
    """The (n, n) matrix of a 1-D Gaussian blur with mirrored borders (``"reflect"``, folded
    again for a signal shorter than the kernel): ``blurred = matrix @ signal``."""
    kernel = _gaussian_1d(size, sigma, torch.float64, torch.device("cpu"))
    rows = torch.arange(n)[:, None].expand(n, size)
    index = rows + torch.arange(size)[None, :] - size // 2
    if n == 1:
        index = torch.zeros_like(index)
    else:
        period = 2 * (n - 1)
        index = torch.remainder(index, period)
        index = torch.where(index >= n, period - index, index)
    matrix = torch.zeros(n, n, dtype=torch.float64)
    matrix.index_put_((rows, index), kernel.expand(n, size), accumulate=True)
    return matrix


def _gaussian_blur(images: Tensor, size: int, sigma: float) -> Tensor:
    height, width = images.shape[-2:]
    if max(height, width) > _MATRIX_SIDE:
        from kornia.filters import filter2d_separable

        kernel = _gaussian_1d(size, sigma, images.dtype, images.device)[None]
        border = border_for(images, size)
        return filter2d_separable(images, kernel, kernel, border_type=border)
    rows = _blur_matrix(height, size, sigma).to(images.device, images.dtype)
    cols = _blur_matrix(width, size, sigma).to(images.device, images.dtype)
    return rows @ images @ cols.T


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
    threshold 10. The Gaussian is separable (the same as its 2-D outer product) and applied
    with mirrored borders (BasicSR's ``filter2D``), as two matrix products up to 1024 pixels
    a side.

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
    size = radius + 1 if radius % 2 == 0 else radius
    if sigma <= 0:
        sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    residual = images - _gaussian_blur(images, size, sigma)
    mask = (residual.abs() * 255 > threshold).to(images.dtype)
    soft = _gaussian_blur(mask, size, sigma)
    sharp = (images + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * images
