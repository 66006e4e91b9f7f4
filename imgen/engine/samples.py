"""Sample grids: one row per sample, one column per image kind (input | output | target)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F


def save_grid(columns: list[torch.Tensor], path: Path, padding: int = 2) -> None:
    """Save ``columns`` (each (B, C, H, W) in [0, 1]) side by side, one sample per row.

    Columns of different sizes (an LR input beside the SR output) are resized with nearest
    neighbour to the largest, so pixels stay visible.
    """
    from torchvision.utils import save_image

    height = max(c.shape[-2] for c in columns)
    width = max(c.shape[-1] for c in columns)
    fitted = []
    for c in columns:
        c = c.detach().float().cpu().clamp(0, 1)
        if c.shape[1] == 1:
            c = c.expand(-1, 3, -1, -1)
        if c.shape[-2:] != (height, width):
            c = F.interpolate(c, size=(height, width), mode="nearest")
        fitted.append(c)
    rows = torch.stack(fitted, dim=1).flatten(0, 1)  # sample-major: row b holds b's columns
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(rows, str(path), nrow=len(columns), padding=padding)
