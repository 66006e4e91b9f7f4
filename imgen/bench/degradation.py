"""Degradation: how fast HR crops become SR inputs (megapixels of HR per second).

The degradations of :mod:`imgen.data.degradations` on a batch of real photo crops, on the
benchmarked device, fp32, x4: ``bicubic`` (MATLAB imresize of uint8 images, ``imgen train
sr``'s default), ``realesrgan`` (Real-ESRGAN's second-order pipeline with its defaults, each
sample's parameters drawn from its own seed) and ``realesrgan+usm`` (with ``--usm-gt``'s
sharpening first). ``draw_ms_per_sample`` is what drawing one sample's parameters costs in
the data loader (CPU), apart from the device work timed in ``megapixels_per_s``.
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

SCALE = 4
DEGRADATIONS = ("bicubic", "realesrgan", "realesrgan+usm")


def sizes(ctx: Context) -> tuple[int, int]:
    """(batch, HR crop): the profile's, or ``--batch-size`` / ``--crop`` when given (the crop
    rounded down to a multiple of the scale)."""
    batch = int(ctx.overrides.get("batch_size", ctx.profile.degradation_batch))
    crop = int(ctx.overrides.get("crop", ctx.profile.degradation_crop))
    return batch, max(SCALE, crop - crop % SCALE)


def measure(ctx: Context) -> list[dict[str, Any]]:
    """One row per degradation."""
    from torch.utils.data import default_collate

    from imgen.data.degradations import DegradationOptions, degrade, draw_params, usm_sharp
    from imgen.data.resize import imresize

    device, repeats = ctx.device, max(2, ctx.profile.repeats)
    batch, crop = sizes(ctx)
    photos = np.stack([sample_image(crop, i) for i in range(batch)])
    hr8 = torch.from_numpy(photos).permute(0, 3, 1, 2).contiguous().to(device)
    hr = hr8.float().div(255)
    opts = DegradationOptions()
    t0 = time.perf_counter()
    params = default_collate([draw_params(opts, np.random.default_rng(i)) for i in range(batch)])
    draw_ms = (time.perf_counter() - t0) * 1000 / batch
    params = {k: v.to(device) for k, v in params.items()}
    calls = {
        "bicubic": lambda: imresize(hr8, 1 / SCALE),
        "realesrgan": lambda: degrade(hr, params, SCALE),
        "realesrgan+usm": lambda: degrade(usm_sharp(hr), params, SCALE),
    }
    megapixels = batch * crop * crop / 1e6
    rows = []
    for name in DEGRADATIONS:
        row: dict[str, Any] = {
            "degradation": name,
            "batch": batch,
            "crop": crop,
            "scale": SCALE,
            "device": str(device),
        }
        try:
            with torch.no_grad():
                calls[name]()  # warm-up
                seconds = median(timed_calls(calls[name], device, repeats))
            row.update(
                status="ok",
                megapixels_per_s=round(megapixels / seconds, 3),
                ms_per_batch=round(seconds * 1000, 2),
            )
            if name != "bicubic":
                row["draw_ms_per_sample"] = round(draw_ms, 3)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            row.update(status="failed", error=one_line(exc))
        rows.append(row)
        ctx.log(_progress(row))
    release(device)
    return rows


def _progress(row: dict[str, Any]) -> str:
    label = f"degradation {row['degradation']}"
    if row.get("status") != "ok":
        return f"{label}: failed: {row.get('error')}"
    text = (
        f"{label}: {row['megapixels_per_s']:.2f} MP/s of HR ({row['batch']} x {row['crop']}, "
        f"x{row['scale']})"
    )
    if "draw_ms_per_sample" in row:
        text += f", parameters {row['draw_ms_per_sample']:.1f} ms/sample in the loader"
    return text
