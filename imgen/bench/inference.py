"""Inference: megapixels/s and peak memory of whole-image and tiled prediction.

Each variant's generator (untrained: speed does not depend on the weights) predicts one
large photo through the task's own :meth:`Task.predict`, as ``imgen predict`` does, from the
uint8 image on the host to the uint8 result on the host, the conversion to uint8 made on the
device (:func:`imgen.inference.to_uint8_image`). The image size is the output's side, so
that the megapixels/s of a 4x SR model and of a translation model count the same pixels;
an SR model's input is that size divided by its scale. A generation task (no input image)
draws a batch of samples instead, and has no tiled row.
"""

from __future__ import annotations

from typing import Any

import torch

from imgen.bench.context import Context
from imgen.bench.datafolder import sample_image
from imgen.bench.timing import PeakMemory, median, release, synchronize, timed_calls
from imgen.bench.training import one_line
from imgen.bench.variants import Variant
from imgen.engine.device import autocast, resolve_precision
from imgen.inference import to_uint8_image

OVERLAP = 32  # imgen predict's default --tile-overlap


def precisions(device: torch.device) -> list[str]:
    """fp32 is what ``imgen predict`` runs today; bf16 autocast shows what it could."""
    return ["fp32", "bf16"]


def _build(ctx: Context, variant: Variant) -> tuple[Any, dict[str, torch.nn.Module]]:
    from imgen.plugins import create_task

    task = create_task(variant.task)
    with ctx.capture(variant.label):
        cfg = ctx.config(task, variant)
        task.setup(cfg, ctx.device, train=False)
        nets = {k: v.to(ctx.device).eval() for k, v in task.build(cfg).items()}
    return task, nets


def _scale(task: Any, nets: dict, device: torch.device) -> float:
    """Output side over input side, from a small probe image."""
    probe = torch.rand(1, 3, 32, 32, device=device)
    with torch.inference_mode():
        return task.predict(nets, probe).shape[-1] / 32


def _row(variant: Variant, precision: str, how: str) -> dict[str, Any]:
    return {"task": variant.task, "variant": variant.name, "precision": precision, "how": how}


def measure_variant(ctx: Context, variant: Variant) -> list[dict[str, Any]]:
    """Rows for ``variant``: (whole, tiled) x precisions, or generation x precisions."""
    rows: list[dict[str, Any]] = []
    device, size = ctx.device, ctx.profile.size
    release(device)
    try:
        task, nets = _build(ctx, variant)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        return [{**_row(variant, "-", "build"), "status": "failed", "error": one_line(exc)}]
    # imgen predict leaves cuDNN's autotuner off: so does this measurement.
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = False
    try:
        for precision in precisions(device):
            dtype = resolve_precision(precision, device)
            if not task.takes_image:
                rows.append(_generate(ctx, variant, task, nets, precision, dtype))
                rows.append(
                    {
                        **_row(variant, precision, "tiled"),
                        "status": "skipped",
                        "reason": "a generation task has no input image to tile",
                    }
                )
                continue
            try:
                scale = _scale(task, nets, device)
            except KeyboardInterrupt:
                raise
            except Exception as exc:
                failed = {"status": "failed", "error": one_line(exc)}
                rows.append({**_row(variant, precision, "whole"), **failed})
                continue
            side = max(1, round(size / scale))
            image = torch.from_numpy(sample_image(side)).permute(2, 0, 1)[None].contiguous()
            # Tiled: four tiles of half the side, each with imgen predict's default overlap.
            for tile in (None, max(16, side // 2)):
                rows.append(_predict(ctx, variant, task, nets, image, precision, dtype, tile))
                ctx.log(_progress(rows[-1]))
    finally:
        torch.backends.cudnn.benchmark = benchmark
        release(device)
    return rows


def _predict(
    ctx: Context,
    variant: Variant,
    task: Any,
    nets: dict,
    image: torch.Tensor,
    precision: str,
    dtype: torch.dtype | None,
    tile: int | None,
) -> dict[str, Any]:
    device = ctx.device
    row = _row(variant, precision, "tiled" if tile else "whole")
    row.update(input=list(image.shape[-2:]), tile=tile, overlap=OVERLAP if tile else None)
    out_shape: list[int] = []

    def run(x_u8: torch.Tensor) -> None:
        x = x_u8.to(device, non_blocking=True).float().div_(255)
        with torch.inference_mode(), autocast(device, dtype):
            y = task.predict(nets, x, tile=tile, tile_overlap=OVERLAP)
        out = to_uint8_image(y)  # rounds on the device; only uint8 crosses to the host
        out_shape[:] = list(out.shape[:2])

    try:
        # A warm-up at full size on a GPU (cuDNN picks kernels per shape); on the CPU a
        # small one, since one full-size pass takes seconds.
        warm = image if device.type == "cuda" else image[..., :64, :64]
        run(warm)
        synchronize(device)
        meter = PeakMemory(device)
        meter.start()
        times = timed_calls(lambda: run(image), device, ctx.profile.repeats)
        row["peak_memory_mb"] = meter.stop()
        seconds = median(times)
        megapixels = out_shape[0] * out_shape[1] / 1e6
        row.update(
            status="ok",
            output=out_shape,
            seconds=round(seconds, 4),
            megapixels_per_s=round(megapixels / seconds, 4),
            repeats=len(times),
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        row.update(status="failed", error=one_line(exc))
    return row


def _generate(
    ctx: Context,
    variant: Variant,
    task: Any,
    nets: dict,
    precision: str,
    dtype: torch.dtype | None,
) -> dict[str, Any]:
    device, n = ctx.device, ctx.profile.batch_size * 4
    row = _row(variant, precision, f"generate {n}")
    shape: list[int] = []

    def run() -> None:
        with torch.inference_mode():
            with autocast(device, dtype):
                images = task.generate(nets, n, seed=0)
            u8 = images.float().clamp_(0, 1).mul_(255).round_().to(torch.uint8)  # on the device
        shape[:] = list(u8.cpu().shape)

    try:
        run()
        meter = PeakMemory(device)
        meter.start()
        times = timed_calls(run, device, ctx.profile.repeats)
        row["peak_memory_mb"] = meter.stop()
        seconds = median(times)
        megapixels = shape[0] * shape[-1] * shape[-2] / 1e6
        row.update(
            status="ok",
            output=shape[-2:],
            images=n,
            seconds=round(seconds, 4),
            megapixels_per_s=round(megapixels / seconds, 4),
            repeats=len(times),
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        row.update(status="failed", error=one_line(exc))
    ctx.log(_progress(row))
    return row


def _progress(row: dict[str, Any]) -> str:
    label = f"infer {row['task']}:{row['variant']} {row['precision']} {row['how']}"
    if row.get("status") == "ok":
        return f"{label}: {row['megapixels_per_s']:.3f} MP/s ({row['seconds']:.3f} s)"
    return f"{label}: {row.get('status')}: {row.get('error') or row.get('reason')}"
