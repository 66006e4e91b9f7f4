"""Whole-image and tiled prediction for any image-to-image network, at any input size.

Inputs are padded (never resized) to the size a network needs and the output is cropped
back. Large images are processed tile by tile with context around each tile and blended
with linear ramps, so memory is bounded by the tile size and there are no seams.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

PAD_MODES = ("reflect", "replicate", "constant", "circular")
# The tile side (input pixels) to use for images too large to predict whole: with the default
# overlap of 32 context pixels it costs about 1.2x the compute of whole-image prediction
# (benchmarks/tiling_cost.py); smaller tiles cost more (256: ~1.4x, 128: ~2.2x).
DEFAULT_TILE = 512

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


QUANTIZED = {torch.uint8: 255.0, torch.uint16: 65535.0}


def quantize(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A [0, 1] image as integer levels of ``dtype`` (uint8: 0..255, uint16: 0..65535):
    clamped, rounded half to even, NaN as 0, computed in float32 on the tensor's device."""
    if dtype not in QUANTIZED:
        names = ", ".join(str(d).removeprefix("torch.") for d in QUANTIZED)
        raise ValueError(f"out_dtype must be a float dtype or one of {names}, got {dtype}.")
    t = torch.nan_to_num(t.detach().float(), nan=0.0).clamp_(0.0, 1.0)
    return t.mul_(QUANTIZED[dtype]).round_().to(dtype)


def predict_tiled(
    fn: Fn,
    image: torch.Tensor,
    *,
    scale: int = 1,
    tile: int | None = None,
    overlap: int = 32,
    multiple: int = 1,
    pad_mode: str = "reflect",
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Apply `fn` to an image of any size, whole or in tiles; returns (..., C', H*scale, W*scale).

    `fn` maps (B, C, h, w) to (B, C', h*scale, w*scale) and may require h and w to be
    multiples of `multiple`: the input is padded on the bottom/right with `pad_mode`
    (reflect falls back to replicate when the image is too small to reflect) and the output
    is cropped back; nothing is ever resized. `image` is (C, H, W) or (B, C, H, W); the
    result has the same rank and the dtype of fn's output, or ``out_dtype``: ``torch.uint8``
    gives the [0, 1] output as 0..255 levels (see :func:`quantize`).

    With `tile` set (in input pixels) the image is cut on a grid of step `tile`. Each tile is
    run with `overlap` input pixels of context on every side (clamped at the image border),
    which is separate from the tile, so `overlap` may exceed `tile`. Each tile's output
    covers its core plus overlap // 2 pixels on interior sides, with linear ramps across
    the overlap-wide band shared with each neighbour. When overlap // 2 is at least the
    network's receptive-field radius (in input pixels) the result equals the untiled one up
    to float rounding; a smaller overlap still blends smoothly, only less exactly.

    Memory: tiles are processed one at a time and their outputs detached (so even without
    torch.inference_mode(), which callers should use, no graph is kept). They are blended in
    float32 in a stripe one row of tiles high, and each finished stripe is written into the
    result in its final dtype: with ``out_dtype=torch.uint8`` a large image costs one uint8
    output plus a float32 stripe of about ``(tile + overlap) * scale`` rows, never a float
    copy of the whole output.
    """
    _check_int("scale", scale, 1)
    _check_int("overlap", overlap, 0)
    _check_int("multiple", multiple, 1)
    if tile is not None:
        _check_int("tile", tile, 1)
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {', '.join(PAD_MODES)}, got {pad_mode!r}.")
    if out_dtype is not None and not out_dtype.is_floating_point and out_dtype not in QUANTIZED:
        quantize(torch.zeros(()), out_dtype)  # raises the ValueError that names the choices
    if not isinstance(image, torch.Tensor) or image.ndim not in (3, 4):
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"image must be a (C, H, W) or (B, C, H, W) tensor, got {shape}.")
    if image.shape[-1] < 1 or image.shape[-2] < 1:
        raise ValueError(f"image must not be empty, got shape {tuple(image.shape)}.")
    batched = image.ndim == 4
    x = image if batched else image.unsqueeze(0)
    height, width = x.shape[-2:]

    if tile is None or (height <= tile and width <= tile):
        out = _finish(_run(fn, x, scale, multiple, pad_mode), out_dtype)
        return out if batched else out.squeeze(0)

    half = overlap // 2
    rows = _axis_tiles(height, tile, overlap, multiple)
    cols = _axis_tiles(width, tile, overlap, multiple)
    row_spans = [_axis_weights(top, end, height, half, scale, x.device) for top, end, *_ in rows]
    col_spans = [_axis_weights(left, end, width, half, scale, x.device) for left, end, *_ in cols]
    # A tile's blend weight is wy(y) * wx(x), and every row of tiles has the same columns, so
    # the sum of the weights at a pixel is the product of two 1-D sums.
    row_sum, col_sum = _weight_sum(row_spans, height * scale), _weight_sum(col_spans, width * scale)
    result: torch.Tensor | None = None
    stripe: _Stripe | None = None
    for r, (_, _, ctx_top, ctx_bottom) in enumerate(rows):
        y0, y1, wy = row_spans[r]
        for (_, _, ctx_left, ctx_right), (x0, x1, wx) in zip(cols, col_spans, strict=True):
            y = _run(fn, x[..., ctx_top:ctx_bottom, ctx_left:ctx_right], scale, multiple, pad_mode)
            y = y.detach()
            if result is None or stripe is None:
                shape = (x.shape[0], y.shape[1], height * scale, width * scale)
                result = torch.empty(shape, dtype=out_dtype or y.dtype, device=y.device)
                tallest = max(hi - lo for lo, hi, _ in row_spans)
                stripe = _Stripe(shape[:2], tallest, shape[-1], y.device)
            part = y[
                ...,
                y0 - ctx_top * scale : y1 - ctx_top * scale,
                x0 - ctx_left * scale : x1 - ctx_left * scale,
            ]
            stripe.add(part, wy.to(y.device)[:, None] * wx.to(y.device)[None, :], y0, x0, x1)
        # Rows above the next tile row's first output row get no more contributions.
        done = row_spans[r + 1][0] if r + 1 < len(rows) else height * scale
        if result is not None and stripe is not None:
            stripe.flush(result, done, row_sum, col_sum)
    assert result is not None
    return result if batched else result.squeeze(0)


def _weight_sum(spans: list[tuple[int, int, torch.Tensor]], size: int) -> torch.Tensor:
    total = torch.zeros(size, device=spans[0][2].device)
    for lo, hi, weights in spans:
        total[lo:hi] += weights
    return total


def predict_fitting(
    fn: Fn,
    image: torch.Tensor,
    *,
    say: Callable[[str], None] | None = None,
    min_tile: int = 32,
    **options: Any,
) -> torch.Tensor:
    """:func:`predict_tiled`, retried in smaller tiles when the device runs out of memory.

    A GPU that cannot hold a whole image (or a tile of ``tile``) raises
    ``torch.OutOfMemoryError``; the image is then processed again in tiles of half its longer
    side (or half the tile), halving until it fits, and ``say`` is told the tile size that
    worked. Below ``min_tile`` input pixels the error is raised as one sentence. (A CPU
    rarely raises it: the operating system ends the process instead.)
    """
    tile = options.pop("tile", None)
    height, width = image.shape[-2:]
    while True:
        try:
            out = predict_tiled(fn, image, tile=tile, **options)
        except torch.OutOfMemoryError as exc:
            current = tile if tile is not None else max(height, width)
            smaller = current // 2
            if image.device.type == "cuda":
                torch.cuda.empty_cache()
            if smaller < min_tile:
                raise torch.OutOfMemoryError(
                    f"out of memory on {image.device} even in tiles of {current} pixels; "
                    "free the device, or predict on the CPU with --device cpu"
                ) from exc
            first = tile
            tile = smaller
            if say is not None and first is None:
                say(f"out of memory on {image.device} for the whole image; trying --tile {tile}")
            elif say is not None:
                say(f"out of memory on {image.device} with --tile {first}; trying --tile {tile}")
            continue
        return out


# The share of the available memory a prediction may use for the network's activations (the
# rest: the output image, the input, other processes). Tiles are chosen to fit in it.
MEMORY_SHARE = 0.5
# The most a prediction's activations may take however much memory there is: past a tile of
# a few hundred pixels a larger one is barely faster (the context is a small part of it) and
# only raises the peak (a 4000x3000 photo at x4 with srresnet on 2 CPU cores: tiles of 864
# and 12.9 GB with half of 23 GB free, tiles of 352 and 4.0 GB with this bound, 8 % slower;
# benchmarks/tiled_memory.py).
MAX_ACTIVATION_BYTES = 2 * 1024**3
# Live activations at a layer's peak, in multiples of the largest layer output: its input, its
# output and a residual branch's skip (conservative for plain and residual networks).
LIVE_OUTPUTS = 3


def activation_bytes(
    net: torch.nn.Module, fn: Fn, channels: int, device: torch.device, multiple: int = 1
) -> float:
    """Bytes of activations per input pixel of ``fn`` (a forward of ``net``), from a probe.

    Runs ``fn`` once on a small (32 px, or the multiple) input with hooks on ``net``'s
    modules and takes the largest output of any module per input pixel, times
    :data:`LIVE_OUTPUTS`. Activations grow with the pixels, so this scales to any image.

    Example:
        >>> net = torch.nn.Conv2d(3, 8, 3, padding=1)
        >>> activation_bytes(net, net, 3, torch.device("cpu"))
        96.0
    """
    side = max(32, multiple * math.ceil(32 / multiple))
    largest = [0]

    def hook(_module: torch.nn.Module, _inputs: Any, output: Any) -> None:
        for t in output if isinstance(output, tuple | list) else (output,):
            if isinstance(t, torch.Tensor):
                largest[0] = max(largest[0], t.numel() * t.element_size())

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    try:
        with torch.inference_mode():
            out = fn(torch.zeros(1, channels, side, side, device=device))
    finally:
        for h in handles:
            h.remove()
    if isinstance(out, torch.Tensor):  # a function that is no module forward (ONNX): its output
        largest[0] = max(largest[0], out.numel() * 4)
    return LIVE_OUTPUTS * largest[0] / (side * side)


def auto_tile(
    height: int,
    width: int,
    per_pixel: float,
    available: int,
    *,
    fixed: int = 0,
    overlap: int = 32,
    multiple: int = 1,
) -> int | None:
    """The tile side for an image whose activations need ``per_pixel`` bytes per input pixel:
    None (whole image) when they fit in :data:`MEMORY_SHARE` of ``available`` bytes less
    ``fixed`` (the output image, the input) and in :data:`MAX_ACTIVATION_BYTES`, else the
    largest tile (a multiple of 32 and of ``multiple``, at least 32) whose tile plus context
    fits. ``available`` 0 (unknown): None.

    Example:
        >>> auto_tile(100, 100, 1000.0, 10**9)  # 10 MB of 500 MB: whole
        >>> auto_tile(4000, 3000, 12288.0, 8 * 1024**3, overlap=32)  # 147 GB of 2 GB: tiles
        352
        >>> auto_tile(4000, 3000, 12288.0, 2 * 1024**3, overlap=32)  # 147 GB of 1 GB: tiles
        224
    """
    if available <= 0 or per_pixel <= 0:
        return None
    budget = min(MEMORY_SHARE * available - fixed, MAX_ACTIVATION_BYTES)
    if height * width * per_pixel <= budget:
        return None
    side = int(math.sqrt(max(budget, 0) / per_pixel)) - 2 * overlap
    step = 32 * multiple // math.gcd(32, multiple)
    return max(step, side // step * step)


def _finish(out: torch.Tensor, out_dtype: torch.dtype | None) -> torch.Tensor:
    if out_dtype is None or out_dtype == out.dtype:
        return out
    return out.to(out_dtype) if out_dtype.is_floating_point else quantize(out, out_dtype)


class _Stripe:
    """The float32 blending buffer of the output rows that tiles are still adding to: a fixed
    number of rows (the tallest row of tiles), whose finished rows are written out and whose
    rest moves up when the next row of tiles starts."""

    CHUNK = 64  # output rows normalised and converted at a time (bounds the temporaries)

    def __init__(self, lead: torch.Size, rows: int, width: int, device: torch.device) -> None:
        self.acc = torch.zeros((*lead, rows, width), device=device)
        self.lo = 0  # the output row of acc's first row

    def add(self, part: torch.Tensor, w: torch.Tensor, y0: int, x0: int, x1: int) -> None:
        r0 = y0 - self.lo
        self.acc[..., r0 : r0 + part.shape[-2], x0:x1] += part.float() * w

    def flush(
        self, result: torch.Tensor, upto: int, row_sum: torch.Tensor, col_sum: torch.Tensor
    ) -> None:
        """Write the finished output rows [self.lo, upto) into ``result``; move the rest up.

        Weights sum to 1 where at most two tiles meet; dividing by their sum also covers
        tiles shorter than the blend band, where three ramps overlap.
        """
        n = upto - self.lo
        for start in range(0, n, self.CHUNK):
            stop = min(start + self.CHUNK, n)
            rows = self.acc[..., start:stop, :]
            weight = row_sum[self.lo + start : self.lo + stop, None] * col_sum[None, :]
            result[..., self.lo + start : self.lo + stop, :] = _finish(
                rows / weight.to(rows.device), result.dtype
            )
        kept = self.acc.shape[-2] - n
        if kept > 0:
            self.acc[..., :kept, :] = self.acc[..., n:, :].clone()
        self.acc[..., max(kept, 0) :, :] = 0
        self.lo = upto


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
        t = quantize(t, torch.uint8)
    t = t.detach().expand(3, -1, -1)
    return t.permute(1, 2, 0).contiguous().cpu().numpy()
