"""The metrics the core registers, as ``fn(pred, target) -> (B,)`` on [0, 1] images."""

from __future__ import annotations

import torch

from imgen.metrics import psnr, ssim


def psnr_rgb(pred: torch.Tensor, target: torch.Tensor, crop_border: int = 0) -> torch.Tensor:
    return psnr(pred, target, crop_border=crop_border)


def ssim_rgb(pred: torch.Tensor, target: torch.Tensor, crop_border: int = 0) -> torch.Tensor:
    return ssim(pred, target, crop_border=crop_border)


def psnr_y(pred: torch.Tensor, target: torch.Tensor, crop_border: int = 0) -> torch.Tensor:
    return psnr(pred, target, crop_border=crop_border, y_channel=True)


def ssim_y(pred: torch.Tensor, target: torch.Tensor, crop_border: int = 0) -> torch.Tensor:
    return ssim(pred, target, crop_border=crop_border, y_channel=True)


def l1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs().flatten(1).mean(1)


def lpips(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LPIPS (AlexNet); raises MetricUnavailable when its weights are not cached."""
    from imgen.metrics.lpips import build_lpips

    return build_lpips(pred.device)(pred, target)
