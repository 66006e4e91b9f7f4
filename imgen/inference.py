"""Whole-image and tiled prediction for any image-to-image network, at any input size.

Inputs are padded (never resized) to the size a network needs and the output is cropped
back. Large images are processed tile by tile with context around each tile and blended
with linear ramps, so memory is bounded by the tile size and there are no seams.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

PAD_MODES = ("reflect", "replicate", "constant", "circular")

Fn = Callable[[torch.Tensor], torch.Tensor]


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def _pad_to_multiple(x: torch.Tensor, multiple: int, mode: str) -> torch.Tensor:
    """Pad the bottom and right of a (B, C, H, W) tensor up to a multiple of `multiple`."""
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not pad_h and not pad_w:
        return x
    # reflect needs pad < size and circular pad <= size; replicate works at any size.
    if (mode == "reflect" and (pad_h >= height or pad_w >= width)) or (
        mode == "circular" and (pad_h > height or pad_w > width)
    ):
        mode = "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


def _run(fn: Fn, x: torch.Tensor, scale: int, multiple: int, pad_mode: str) -> torch.Tensor:
    """Pad `x` to `multiple`, apply `fn`, check its output size, crop it back."""
    height, width = x.shape[-2:]
    padded = _pad_to_multiple(x, multiple, pad_mode)
    out = fn(padded)
    expected = (padded.shape[0], padded.shape[-2] * scale, padded.shape[-1] * scale)
    if (
        not isinstance(out, torch.Tensor)
        or out.ndim != 4
        or (out.shape[0], out.shape[-2], out.shape[-1]) != expected
    ):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"The network returned {got} for an input of {tuple(padded.shape)}; expected "
            f"batch {expected[0]} and size {expected[1]}x{expected[2]} (scale={scale}). "
            "Check the scale and multiple arguments."
        )
    return out[..., : height * scale, : width * scale]


def _axis_tiles(
    size: int, tile: int, overlap: int, multiple: int
) -> list[tuple[int, int, int, int]]:
    """(core_start, core_end, context_start, context_end) of each tile along one axis.

    The context reaches `overlap` pixels past the core, clamped to the image. Its start is
    moved down to the `multiple` grid and its end up to a whole number of multiples where
    the image allows, so a stride-s network sees each tile on the same pixel grid as the
    whole image and only the image border is ever padded, exactly as in the untiled path.
    """
    tiles = []
    for start in range(0, size, tile):
        end = min(start + tile, size)
        ctx_start = max(0, start - overlap)
        ctx_start -= ctx_start % multiple
        ctx_end = min(size, end + overlap)
        ctx_end = min(size, ctx_start + math.ceil((ctx_end - ctx_start) / multiple) * multiple)
        tiles.append((start, end, ctx_start, ctx_end))
    return tiles


def _axis_weights(
    start: int, end: int, size: int, half: int, scale: int, device: torch.device
) -> tuple[int, int, torch.Tensor]:
    """Blend weights of one tile along one axis, in output pixels: (lo, hi, weights[lo:hi]).

    The tile covers its core plus `half` input pixels on interior sides. Across the band of
    width 2*half centred on a boundary between neighbours its weight ramps linearly, and
    the neighbour's ramp is the complement, so the weights sum to 1. At the image border
    there is no neighbour and the weight stays 1.
    """
    first, last = start == 0, end == size
    lo = 0 if first else max(0, start - half)
    hi = size if last else min(size, end + half)
    centres = torch.arange(lo * scale, hi * scale, device=device, dtype=torch.float32) + 0.5
    weights = torch.ones_like(centres)
    if half > 0:
        band = 2.0 * half * scale
        if not first:
            weights *= ((centres - (start - half) * scale) / band).clamp(0.0, 1.0)
        if not last:
            weights *= (((end + half) * scale - centres) / band).clamp(0.0, 1.0)
    return lo * scale, hi * scale, weights


def predict_tiled(
    fn: Fn,
    image: torch.Tensor,
    *,
    scale: int = 1,
    tile: int | None = None,
    overlap: int = 32,
    multiple: int = 1,
    pad_mode: str = "reflect",
) -> torch.Tensor:
    """Apply `fn` to an image of any size, whole or in tiles; returns (..., C', H*scale, W*scale).

    `fn` maps (B, C, h, w) to (B, C', h*scale, w*scale) and may require h and w to be
    multiples of `multiple`: the input is padded on the bottom/right with `pad_mode`
    (reflect falls back to replicate when the image is too small to reflect) and the output
    is cropped back; nothing is ever resized. `image` is (C, H, W) or (B, C, H, W); the
    result has the same rank and the dtype of fn's output.

    With `tile` set (in input pixels) the image is cut on a grid of step `tile`. Each tile is
    run with `overlap` input pixels of context on every side (clamped at the image border),
    which is separate from the tile, so `overlap` may exceed `tile`. Each tile's output
    covers its core plus overlap // 2 pixels on interior sides, with linear ramps across
    the overlap-wide band shared with each neighbour, accumulated in float32 on fn's output
    device. When overlap // 2 is at least the network's receptive-field radius (in input
    pixels) the result equals the untiled one up to float rounding; a smaller overlap
    still blends smoothly, only less exactly.

    Tiles are processed one at a time and their outputs detached, so memory is bounded by
    one tile even if the caller forgot torch.inference_mode() (which it should use).
    """
    _check_int("scale", scale, 1)
    _check_int("overlap", overlap, 0)
    _check_int("multiple", multiple, 1)
    if tile is not None:
        _check_int("tile", tile, 1)
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {', '.join(PAD_MODES)}, got {pad_mode!r}.")
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a (C, H, W) or (B, C, H, W) tensor, got {shape}.")
    if image.shape[-1] < 1 or image.shape[-2] < 1:
        raise ValueError(f"image must not be empty, got shape {tuple(image.shape)}.")
    batched = image.ndim == 4
    x = image if batched else image.unsqueeze(0)
    height, width = x.shape[-2:]

    if tile is None or (height <= tile and width <= tile):
        out = _run(fn, x, scale, multiple, pad_mode)
        return out if batched else out.squeeze(0)

    half = overlap // 2
    rows = _axis_tiles(height, tile, overlap, multiple)
    cols = _axis_tiles(width, tile, overlap, multiple)
    acc: torch.Tensor | None = None
    weight_sum: torch.Tensor | None = None
    out_dtype = x.dtype
    for top, bottom, ctx_top, ctx_bottom in rows:
        for left, right, ctx_left, ctx_right in cols:
            y = _run(fn, x[..., ctx_top:ctx_bottom, ctx_left:ctx_right], scale, multiple, pad_mode)
            y = y.detach()
            if acc is None:
                out_dtype = y.dtype
                acc = torch.zeros(
                    (x.shape[0], y.shape[1], height * scale, width * scale),
                    dtype=torch.float32,
                    device=y.device,
                )
                weight_sum = torch.zeros((height * scale, width * scale), device=y.device)
            y0, y1, wy = _axis_weights(top, bottom, height, half, scale, y.device)
            x0, x1, wx = _axis_weights(left, right, width, half, scale, y.device)
            w = wy[:, None] * wx[None, :]
            part = y[
                ...,
                y0 - ctx_top * scale : y1 - ctx_top * scale,
                x0 - ctx_left * scale : x1 - ctx_left * scale,
            ]
            acc[..., y0:y1, x0:x1] += part.float() * w
            weight_sum[y0:y1, x0:x1] += w
    # Weights already sum to 1 where at most two tiles meet; dividing also covers tiles
    # shorter than the blend band, where three ramps overlap.
    out = (acc / weight_sum).to(out_dtype)
    return out if batched else out.squeeze(0)


def to_uint8_image(t: torch.Tensor) -> np.ndarray:
    """A [0, 1] image tensor ((3, H, W), (1, H, W), (H, W) or (1, 3, H, W)) as (H, W, 3) uint8.

    Clamping and rounding (half to even) happen on the tensor's device in float32, so only
    uint8 crosses to the host; NaN becomes 0. uint8 tensors are passed through.
    """
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"Expected a single image, got a batch of shape {tuple(t.shape)}.")
        t = t[0]
    if t.ndim == 2:
        t = t.unsqueeze(0)
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"Expected a (3, H, W) or (1, H, W) image tensor, got {tuple(t.shape)}.")
    if t.dtype != torch.uint8:
        t = torch.nan_to_num(t.detach().float(), nan=0.0).clamp_(0.0, 1.0)
        t = t.mul_(255.0).round_().to(torch.uint8)
    t = t.detach().expand(3, -1, -1)
    return t.permute(1, 2, 0).contiguous().cpu().numpy()
