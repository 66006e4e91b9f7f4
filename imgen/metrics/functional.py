"""PSNR and SSIM with the BasicSR / MATLAB super-resolution evaluation protocol.

The protocol behind published SR numbers (BasicSR's ``calculate_psnr`` / ``calculate_ssim``,
themselves matching the MATLAB scripts): images are 8-bit, ``crop_border`` pixels are removed
on every side, the comparison is optionally made on the Y channel of BT.601 YCbCr on the
[16, 235] scale, and SSIM uses an 11x11 Gaussian window (sigma 1.5) with 'valid' filtering and
the constants of Wang et al. on the [0, 255] scale. Everything here is batched and computed in
float64, as BasicSR does in NumPy, so the results agree with it to well under 1e-6.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PSNR", "SSIM", "psnr", "quantize", "rgb_to_y", "ssim"]

# BT.601 luma on the [0, 255] scale for R, G, B in [0, 1] (MATLAB's rgb2ycbcr, BasicSR's
# bgr2ycbcr(y_only=True) with the channels reordered).
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0

_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5
_SSIM_C1 = (0.01 * 255) ** 2
_SSIM_C2 = (0.03 * 255) ** 2


def _check_image(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor in [0, 1], got {x.dtype}; "
            "divide uint8 images by 255 first."
        )
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (B, C, H, W), got {tuple(x.shape)}.")


def rgb_to_y(x: Tensor) -> Tensor:
    """Y channel of BT.601 YCbCr, on the [0, 255] scale, from RGB in [0, 1].

    ``Y = 16 + 65.481 R + 128.553 G + 24.966 B``, as MATLAB's ``rgb2ycbcr`` and BasicSR's
    ``to_y_channel`` (which returns it unrounded). The result is float64.

    Args:
        x: RGB image(s) in [0, 1].

    Returns:
        Y in [16, 235] for inputs in [0, 1].

    Shape:
        - Input: :math:`(B, 3, H, W)`.
        - Output: :math:`(B, 1, H, W)`.

    Example:
        >>> rgb_to_y(torch.ones(1, 3, 2, 2)).flatten()
        tensor([235., 235., 235., 235.], dtype=torch.float64)
    """
    _check_image(x, "x")
    if x.shape[1] != 3:
        raise ValueError(f"x must have 3 (RGB) channels, got {x.shape[1]}.")
    x = x.to(torch.float64)
    weights = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True) + _Y_OFFSET


def quantize(x: Tensor) -> Tensor:
    """Quantize [0, 1] images to 8-bit levels, returned as float64 on the [0, 255] scale.

    ``round(clamp(x, 0, 1) * 255)``, the ``uint8`` conversion of BasicSR's ``tensor2img``
    (ties round to even, like NumPy's ``round``).

    Args:
        x: image(s) in [0, 1] (values outside are clamped).

    Returns:
        Integer-valued float64 tensor in [0, 255].

    Shape:
        - Input: any.
        - Output: same as input.

    Example:
        >>> quantize(torch.tensor([0.0, 0.5, 1.2]))
        tensor([  0., 128., 255.], dtype=torch.float64)
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}.")
    return torch.round(x.to(torch.float64).clamp(0, 1) * 255)


def _prepare(
    pred: Tensor,
    target: Tensor,
    crop_border: int,
    y_channel: bool,
    quantize_: bool,
    min_size: int,
) -> tuple[Tensor, Tensor]:
    """Validate, crop, quantize and convert a pair to float64 on the [0, 255] scale."""
    _check_image(pred, "pred")
    _check_image(target, "target")
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}."
        )
    if isinstance(crop_border, bool) or not isinstance(crop_border, int):
        raise TypeError(f"crop_border must be an int, got {type(crop_border).__name__}.")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}.")
    if y_channel and pred.shape[1] != 3:
        raise ValueError(
            f"y_channel=True needs 3-channel RGB images, got {pred.shape[1]} channels."
        )
    h, w = pred.shape[-2:]
    if min(h, w) - 2 * crop_border < min_size:
        raise ValueError(
            f"Images of {h}x{w} with crop_border={crop_border} leave "
            f"{h - 2 * crop_border}x{w - 2 * crop_border} pixels; at least "
            f"{min_size}x{min_size} are needed."
        )

    def convert(x: Tensor) -> Tensor:
        if crop_border:
            x = x[..., crop_border:-crop_border, crop_border:-crop_border]
        # The protocol crops first, then converts (BasicSR's order; the two commute anyway).
        x = quantize(x) if quantize_ else x.to(torch.float64) * 255
        return rgb_to_y(x / 255) if y_channel else x

    return convert(pred), convert(target)


def psnr(
    pred: Tensor,
    target: Tensor,
    crop_border: int = 0,
    y_channel: bool = False,
    quantize: bool = True,
) -> Tensor:
    """Peak signal-to-noise ratio in dB with the BasicSR SR protocol, per image.

    ``10 log10(255^2 / MSE)`` on the [0, 255] scale, the MSE taken over all channels and
    pixels left after cropping. Identical images give ``inf``.

    Args:
        pred: predicted image(s) in [0, 1].
        target: reference image(s) in [0, 1].
        crop_border: pixels removed on each side before comparing (the SR scale, by
            convention).
        y_channel: compare the BT.601 Y channel instead of the RGB channels.
        quantize: round both images to 8-bit levels first, as BasicSR does by comparing
            ``uint8`` images.

    Returns:
        PSNR of each image pair, float64.

    Shape:
        - pred, target: :math:`(B, C, H, W)`; :math:`C = 3` when ``y_channel``.
        - Output: :math:`(B,)`.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> psnr(x, (x + 0.01).clamp(0, 1), crop_border=4, y_channel=True).shape
        torch.Size([2])
    """
    a, b = _prepare(pred, target, crop_border, y_channel, quantize, min_size=1)
    mse = (a - b).pow(2).flatten(1).mean(dim=1)
    # mse == 0 gives +inf through the division, as BasicSR's explicit check does.
    return 10 * torch.log10(255.0**2 / mse)


def _gaussian_window(device: torch.device) -> Tensor:
    # cv2.getGaussianKernel(11, 1.5): sampled Gaussian normalised to sum to one.
    coords = torch.arange(_SSIM_WINDOW, dtype=torch.float64, device=device)
    coords = coords - (_SSIM_WINDOW - 1) / 2
    g = torch.exp(-(coords**2) / (2 * _SSIM_SIGMA**2))
    return g / g.sum()


def _filter_valid(x: Tensor, g: Tensor) -> Tensor:
    """Separable Gaussian filter with 'valid' output (no padding), per channel."""
    c = x.shape[1]
    # The window is symmetric, so correlation (conv2d) equals BasicSR's filter2D; 'valid'
    # equals its same-size filtering followed by the [5:-5, 5:-5] crop.
    x = F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)


def ssim(
    pred: Tensor,
    target: Tensor,
    crop_border: int = 0,
    y_channel: bool = False,
    quantize: bool = True,
) -> Tensor:
    """Structural similarity with the BasicSR SR protocol, per image.

    11x11 Gaussian window with sigma 1.5, 'valid' filtering, ``C1 = (0.01 * 255)^2``,
    ``C2 = (0.03 * 255)^2`` on the [0, 255] scale; for multi-channel images, the mean over
    channels of each channel's mean SSIM.

    Args:
        pred: predicted image(s) in [0, 1].
        target: reference image(s) in [0, 1].
        crop_border: pixels removed on each side before comparing.
        y_channel: compare the BT.601 Y channel instead of the RGB channels.
        quantize: round both images to 8-bit levels first, as BasicSR does.

    Returns:
        SSIM of each image pair, float64.

    Shape:
        - pred, target: :math:`(B, C, H, W)` with at least 11x11 pixels left after cropping;
          :math:`C = 3` when ``y_channel``.
        - Output: :math:`(B,)`.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> ssim(x, x, crop_border=4).tolist()
        [1.0, 1.0]
    """
    a, b = _prepare(pred, target, crop_border, y_channel, quantize, min_size=_SSIM_WINDOW)
    g = _gaussian_window(a.device)
    mu_a = _filter_valid(a, g)
    mu_b = _filter_valid(b, g)
    mu_aa, mu_bb, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = _filter_valid(a * a, g) - mu_aa
    var_b = _filter_valid(b * b, g) - mu_bb
    cov = _filter_valid(a * b, g) - mu_ab
    ssim_map = ((2 * mu_ab + _SSIM_C1) * (2 * cov + _SSIM_C2)) / (
        (mu_aa + mu_bb + _SSIM_C1) * (var_a + var_b + _SSIM_C2)
    )
    # Mean per channel, then over channels: equal to BasicSR's mean of per-channel SSIMs.
    return ssim_map.mean(dim=(2, 3)).mean(dim=1)


class _ProtocolMetric(nn.Module):
    """The settings shared by :class:`PSNR` and :class:`SSIM`."""

    def __init__(self, crop_border: int = 0, y_channel: bool = False, quantize: bool = True):
        super().__init__()
        self.crop_border = crop_border
        self.y_channel = y_channel
        self.quantize = quantize

    def extra_repr(self) -> str:
        return (
            f"crop_border={self.crop_border}, y_channel={self.y_channel}, quantize={self.quantize}"
        )


class PSNR(_ProtocolMetric):
    """Module form of :func:`psnr` with fixed protocol settings.

    Args:
        crop_border: pixels removed on each side before comparing.
        y_channel: compare the BT.601 Y channel.
        quantize: round both images to 8-bit levels first.

    Shape:
        - pred, target: :math:`(B, C, H, W)` in [0, 1].
        - Output: :math:`(B,)`.

    Example:
        >>> metric = PSNR(crop_border=4, y_channel=True)
        >>> x = torch.rand(1, 3, 32, 32)
        >>> metric(x, x)
        tensor([inf], dtype=torch.float64)
    """

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return psnr(pred, target, self.crop_border, self.y_channel, self.quantize)


class SSIM(_ProtocolMetric):
    """Module form of :func:`ssim` with fixed protocol settings.

    Args:
        crop_border: pixels removed on each side before comparing.
        y_channel: compare the BT.601 Y channel.
        quantize: round both images to 8-bit levels first.

    Shape:
        - pred, target: :math:`(B, C, H, W)` in [0, 1].
        - Output: :math:`(B,)`.

    Example:
        >>> metric = SSIM(crop_border=4, y_channel=True)
        >>> x = torch.rand(1, 3, 32, 32)
        >>> metric(x, x)
        tensor([1.], dtype=torch.float64)
    """

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return ssim(pred, target, self.crop_border, self.y_channel, self.quantize)
