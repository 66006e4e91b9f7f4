"""Metrics: PSNR and SSIM throughput, and their agreement with scikit-image.

imgen's metrics (:mod:`imgen.metrics.functional`, batched, float64, on the benchmarked
device) and scikit-image's ``peak_signal_noise_ratio`` / ``structural_similarity`` (NumPy on
the CPU, set up for the same protocol: Gaussian window, sigma 1.5, population covariance,
data range 255, the BT.601 Y channel from ``skimage.color.rgb2ycbcr``) score the same
pairs: real photos against a noisy copy, with a 4-pixel border cropped. The agreement is
the largest absolute difference over the images.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from imgen.bench.context import Context
from imgen.bench.datafolder import sample_image
from imgen.bench.timing import median, release, timed_calls
from imgen.bench.training import one_line

BORDER = 4


def image_pairs(count: int, size: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(target, prediction) uint8 pairs: photos and a copy with Gaussian noise (sigma 8)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(count):
        target = sample_image(size, i)
        noise = rng.normal(0, 8, target.shape)
        pred = np.clip(np.round(target + noise), 0, 255).astype(np.uint8)
        pairs.append((target, pred))
    return pairs


def skimage_scores(
    target: np.ndarray, pred: np.ndarray, metric: str, border: int = BORDER
) -> float:
    """One score with scikit-image, by the protocol imgen implements."""
    from skimage.color import rgb2ycbcr
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    name, space = metric.split("_")
    if space == "y":
        t, p = rgb2ycbcr(target)[..., 0], rgb2ycbcr(pred)[..., 0]  # float64, [16, 235]
        axis = None
    else:
        t, p = target.astype(np.float64), pred.astype(np.float64)
        axis = -1
    if border:
        t, p = t[border:-border, border:-border], p[border:-border, border:-border]
    if name == "psnr":
        return float(peak_signal_noise_ratio(t, p, data_range=255))
    return float(
        structural_similarity(
            t,
            p,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=axis,
        )
    )


def imgen_scores(
    target: torch.Tensor, pred: torch.Tensor, metric: str, border: int = BORDER
) -> torch.Tensor:
    """Scores of a batch with imgen's metrics (images in [0, 1], (B, 3, H, W))."""
    from imgen.metrics.functional import psnr, ssim

    name, space = metric.split("_")
    fn = psnr if name == "psnr" else ssim
    return fn(pred, target, crop_border=border, y_channel=space == "y")


METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "ssim_rgb")


def measure(ctx: Context) -> list[dict[str, Any]]:
    """One row per metric: throughput of both and their largest difference."""
    p, device = ctx.profile, ctx.device
    pairs = image_pairs(p.metric_images, p.metric_size)

    def batch(index: int) -> torch.Tensor:
        arrays = np.stack([pair[index] for pair in pairs])
        return torch.from_numpy(arrays).permute(0, 3, 1, 2).to(device).float().div_(255)

    target, pred = batch(0), batch(1)
    megapixels = len(pairs) * p.metric_size**2 / 1e6
    rows = []
    for metric in METRICS:
        row: dict[str, Any] = {
            "metric": metric,
            "images": len(pairs),
            "size": p.metric_size,
            "crop_border": BORDER,
        }
        try:
            ours = imgen_scores(target, pred, metric).cpu().numpy()  # also the warm-up
            seconds = median(
                timed_calls(lambda m=metric: imgen_scores(target, pred, m), device, p.repeats)
            )
            t0 = time.perf_counter()
            theirs = np.array([skimage_scores(t, q, metric) for t, q in pairs])
            sk_seconds = time.perf_counter() - t0
            row.update(
                status="ok",
                imgen_megapixels_per_s=round(megapixels / seconds, 3),
                skimage_megapixels_per_s=round(megapixels / sk_seconds, 3),
                max_abs_diff=float(np.max(np.abs(ours - theirs))),
                mean_value=float(np.mean(ours)),
            )
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            row.update(status="failed", error=one_line(exc))
        rows.append(row)
        ctx.log(_progress(row))
    release(device)
    return rows


def _progress(row: dict[str, Any]) -> str:
    label = f"metric {row['metric']}"
    if row.get("status") != "ok":
        return f"{label}: failed: {row.get('error')}"
    return (
        f"{label}: imgen {row['imgen_megapixels_per_s']:.1f} MP/s, scikit-image "
        f"{row['skimage_megapixels_per_s']:.1f} MP/s, max |diff| {row['max_abs_diff']:.2e}"
    )
