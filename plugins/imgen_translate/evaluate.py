"""Evaluation of the translate task: PSNR, SSIM (RGB), L1 and LPIPS on the test pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch


def evaluate_translate(
    task: Any, nets: dict, root: Path, *, tile: int | None = None, tile_overlap: int = 32
) -> dict[str, Any]:
    from imgen.metrics import psnr, quantize, ssim
    from imgen.metrics.lpips import MetricUnavailable, build_lpips

    notes = []
    try:
        lpips = build_lpips(task.device)
    except MetricUnavailable as exc:
        lpips = None
        notes.append(f"lpips: unavailable ({exc})")
    dataset = task.dataset(task.cfg, str(root), "test")
    rows = []
    for index in range(len(dataset)):
        item = dataset[index]
        batch = task.prepare(
            {k: v[None] if isinstance(v, torch.Tensor) else v for k, v in item.items()}
        )
        fake = task.translate(nets, batch["A"], tile=tile, tile_overlap=tile_overlap)
        fake = quantize(fake).float() / 255  # scored as the uint8 image a user would save
        row = {
            "psnr": float(psnr(fake, batch["B"])[0]),
            "ssim": float(ssim(fake, batch["B"])[0]),
            "l1": float((fake - batch["B"]).abs().mean()),
        }
        if lpips is not None:
            row["lpips"] = float(lpips(fake, batch["B"])[0])
        rows.append(row)
    metrics = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    return {
        "metrics": metrics,
        "images": len(rows),
        "direction": task.cfg.direction,
        "notes": notes,
    }
