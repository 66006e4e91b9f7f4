"""Image quality metrics: PSNR and SSIM (BasicSR/MATLAB SR protocol) and offline LPIPS."""

from imgen.metrics.functional import PSNR, SSIM, psnr, quantize, rgb_to_y, ssim
from imgen.metrics.lpips import LPIPSMetric, MetricUnavailable, build_lpips, lpips_status

__all__ = [
    "PSNR",
    "SSIM",
    "LPIPSMetric",
    "MetricUnavailable",
    "build_lpips",
    "lpips_status",
    "psnr",
    "quantize",
    "rgb_to_y",
    "ssim",
]
