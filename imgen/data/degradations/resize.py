"""Resizing with the modes Real-ESRGAN draws from (``F.interpolate``: area, bilinear, bicubic)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from imgen.data.degradations.options import RESIZE_MODES

__all__ = ["RESIZE_MODES", "resize"]


def resize(images: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """Resize to ``size`` with ``mode`` (no antialiasing, ``align_corners=False``, as
    Real-ESRGAN); the same size returns the images unchanged.

    Args:
        images: the batch.
        size: (height, width) of the result, each at least 1.
        mode: ``"area"``, ``"bilinear"`` or ``"bicubic"`` (bicubic may overshoot [0, 1]; the
            noise step after it clips).

    Shape:
        - images: :math:`(B, C, H, W)`; Output: :math:`(B, C, size_0, size_1)`.

    Example:
        >>> import torch
        >>> tuple(resize(torch.rand(1, 3, 10, 10), (4, 6), "area").shape)
        (1, 3, 4, 6)
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {mode!r}; use one of {', '.join(RESIZE_MODES)}")
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if tuple(images.shape[-2:]) == size:
        return images
    if mode == "area":
        return F.interpolate(images, size=size, mode="area")
    return F.interpolate(images, size=size, mode=mode, align_corners=False)
