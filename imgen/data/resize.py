"""MATLAB-compatible bicubic resizing (``imresize``) in pure PyTorch.

The super-resolution literature builds its low-resolution inputs with MATLAB's
``imresize(img, 1/s, 'bicubic')`` and reports bicubic baselines with
``imresize(lr, s, 'bicubic')``. ``torch.nn.functional.interpolate`` differs from it (other
kernel support when shrinking, other border handling), enough to move PSNR by tenths of a dB,
so this module reproduces MATLAB's algorithm:

* cubic kernel with ``a = -0.5``;
* when shrinking with antialiasing, the kernel is stretched by ``1 / scale`` and every row of
  weights is normalised to sum to one;
* output size ``ceil(in_size * scale)``;
* out-of-range taps clamped to the edge pixel (MATLAB's ``imresize.m``: "Clamp out-of-range
  indices; has the effect of replicating end-points"). BasicSR's Python port
  (``basicsr/utils/matlab_functions.py``) mirrors symmetrically instead; ``border="symmetric"``
  reproduces that port. The two differ only within two (``2 / scale`` when shrinking) pixels
  of the border;
* the dimension with the smaller scale is resized first (height first on ties);
* ``uint8`` input behaves as MATLAB's ``uint8`` path: each 1-D pass works on the 0..255 values
  in float64 and is rounded (half away from zero) and saturated to ``uint8`` before the next
  pass. This is how the standard SR test sets' LR images were made; it reproduces them exactly.

Each 1-D resize is a dense ``(out, in)`` matrix with the border taps folded in, so a whole
resize is two batched matrix multiplications that run on any device.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor, nn

__all__ = ["Imresize", "imresize", "imresize_weights"]

# Width of the cubic kernel's support in input pixels (before antialias stretching).
_KERNEL_WIDTH = 4.0
_BORDERS = ("replicate", "symmetric")


def _cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``)."""
    absx = x.abs()
    absx2 = absx * absx
    absx3 = absx2 * absx
    inner = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    outer = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return inner + outer


@lru_cache(maxsize=64)
def _weight_matrix(
    in_size: int, out_size: int, scale: float, antialias: bool, border: str
) -> Tensor:
    """Build the float64 CPU ``(out_size, in_size)`` matrix of a 1-D MATLAB bicubic resize.

    Cached because evaluation resizes many images of a handful of sizes; callers must not
    modify the returned tensor in place.
    """
    kernel_width = _KERNEL_WIDTH
    stretch = scale < 1 and antialias
    if stretch:
        # Shrinking: widen the kernel so that it also low-pass filters (antialiasing).
        kernel_width = kernel_width / scale

    # Output pixel centres (1-based, as in MATLAB) mapped back into input coordinates so that
    # 0.5 in output space maps to 0.5 in input space.
    x = torch.arange(1, out_size + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - kernel_width / 2)
    # One tap more than strictly needed on each side; zero end columns are dropped below.
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(distance * scale) if stretch else _cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)

    # BasicSR's rule: drop the first / last tap column when it holds a zero weight. In exact
    # arithmetic those columns are all zero; the rule matters only through rounding.
    if bool((weights[:, 0] == 0).any()):
        weights, indices = weights[:, 1:], indices[:, 1:]
    if bool((weights[:, -1] == 0).any()):
        weights, indices = weights[:, :-1], indices[:, :-1]

    idx = indices.long() - 1  # 0-based
    if border == "replicate":
        idx = idx.clamp(0, in_size - 1)
    else:
        # Half-sample symmetric mirroring (1..n, n..1, periodically): equals BasicSR's
        # flipped-border padding and also works when taps reach further than the image.
        period = 2 * in_size
        idx = torch.remainder(idx, period)
        idx = torch.where(idx >= in_size, period - 1 - idx, idx)

    matrix = torch.zeros(out_size, in_size, dtype=torch.float64)
    # Several taps can land on the same edge pixel: accumulate, do not overwrite.
    matrix.scatter_add_(1, idx, weights)
    return matrix


def _check_border(border: str) -> None:
    if border not in _BORDERS:
        raise ValueError(f"border must be one of {_BORDERS}, got {border!r}.")


def imresize_weights(
    in_size: int,
    out_size: int,
    scale: float,
    antialias: bool = True,
    *,
    border: str = "replicate",
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Return the ``(out_size, in_size)`` matrix of one 1-D MATLAB bicubic resize.

    ``resized = matrix @ signal`` along the resized dimension.

    Args:
        in_size: input length in pixels.
        out_size: output length in pixels.
        scale: the scale factor the kernel uses (MATLAB uses the user's scale, not
            ``out_size / in_size``, when a scale is given).
        antialias: stretch the kernel when ``scale < 1``.
        border: ``"replicate"`` (MATLAB) or ``"symmetric"`` (BasicSR's port).
        device: device of the returned matrix.
        dtype: dtype of the returned matrix (built in float64, then cast).

    Shape:
        - Output: :math:`(out\\_size, in\\_size)`.

    Example:
        >>> imresize_weights(4, 2, 0.5).sum(dim=1)
        tensor([1., 1.], dtype=torch.float64)
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"Sizes must be positive, got in_size={in_size}, out_size={out_size}.")
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number, got {scale}.")
    _check_border(border)
    matrix = _weight_matrix(int(in_size), int(out_size), float(scale), bool(antialias), border)
    return matrix.to(device=device, dtype=dtype)


def _round_to_uint8_range(x: Tensor) -> Tensor:
    # MATLAB's conversion to uint8: saturate, then round half away from zero (values are
    # non-negative after the clamp, so floor(x + 0.5); torch.round would round half to even).
    return torch.floor(x.clamp(0, 255) + 0.5)


def imresize(
    x: Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
    *,
    border: str = "replicate",
) -> Tensor:
    """Resize images with MATLAB's bicubic ``imresize``.

    Floating-point input is resized in its own dtype and is neither clamped nor rounded, so it
    may use any range (pass float64 for the closest match to MATLAB's double path); quantize
    afterwards to get an 8-bit image. ``uint8`` input follows MATLAB's ``uint8`` path: each 1-D
    pass is computed in float64 on the 0..255 values, then rounded and saturated, and the
    result is ``uint8``; this reproduces MATLAB-made LR images bit for bit.

    Args:
        x: image(s), floating point or ``uint8``.
        scale: scale factor for both dimensions; the output size is ``ceil(in * scale)``.
        size: output ``(height, width)``; each dimension then uses ``out / in`` as its scale.
            Give exactly one of ``scale`` and ``size``.
        antialias: when shrinking, stretch the kernel by ``1 / scale`` (MATLAB's default).
        border: ``"replicate"`` clamps taps to the edge pixel as MATLAB does;
            ``"symmetric"`` mirrors them as BasicSR's ``matlab_functions.imresize`` does.

    Returns:
        The resized image(s), same dtype and device as ``x``.

    Shape:
        - Input: :math:`(B, C, H, W)` or :math:`(C, H, W)`.
        - Output: :math:`(B, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})`.

    Example:
        >>> x = torch.rand(2, 3, 32, 48)
        >>> imresize(x, scale=0.25).shape
        torch.Size([2, 3, 8, 12])
        >>> imresize(x, size=(64, 64)).shape
        torch.Size([2, 3, 64, 64])
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}.")
    if x.ndim not in (3, 4):
        raise ValueError(
            f"x must have shape (B, C, H, W) or (C, H, W), got {x.ndim} dimensions "
            f"{tuple(x.shape)}."
        )
    is_uint8 = x.dtype == torch.uint8
    if not (x.is_floating_point() or is_uint8):
        raise TypeError(
            f"x must be a floating-point or uint8 tensor, got {x.dtype}; convert it first, "
            "e.g. x.float()."
        )
    if (scale is None) == (size is None):
        raise ValueError("Give exactly one of scale and size.")
    _check_border(border)
    in_h, in_w = int(x.shape[-2]), int(x.shape[-1])
    if in_h < 1 or in_w < 1:
        raise ValueError(f"x must have a non-empty spatial size, got {in_h}x{in_w}.")

    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise TypeError(f"scale must be a number, got {type(scale).__name__}.")
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"scale must be a positive finite number, got {scale}.")
        scale_h = scale_w = float(scale)
        out_h, out_w = math.ceil(in_h * scale), math.ceil(in_w * scale)
    else:
        if (
            not isinstance(size, (tuple, list))
            or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in size)
        ):
            raise TypeError(f"size must be a (height, width) pair of ints, got {size!r}.")
        out_h, out_w = size
        if out_h < 1 or out_w < 1:
            raise ValueError(f"size must be positive, got {size!r}.")
        scale_h, scale_w = out_h / in_h, out_w / in_w

    squeeze = x.ndim == 3
    if squeeze:
        x = x.unsqueeze(0)

    work_dtype = torch.float64 if is_uint8 else x.dtype
    w_h = imresize_weights(
        in_h, out_h, scale_h, antialias, border=border, device=x.device, dtype=work_dtype
    )
    w_w = imresize_weights(
        in_w, out_w, scale_w, antialias, border=border, device=x.device, dtype=work_dtype
    )

    def resize_h(t: Tensor) -> Tensor:
        t = torch.matmul(w_h, t)  # (out_h, H) @ (B, C, H, W) -> (B, C, out_h, W)
        return _round_to_uint8_range(t) if is_uint8 else t

    def resize_w(t: Tensor) -> Tensor:
        t = torch.matmul(t, w_w.T)  # (B, C, H, W) @ (W, out_w) -> (B, C, H, out_w)
        return _round_to_uint8_range(t) if is_uint8 else t

    out = x.to(work_dtype)
    # MATLAB resizes the dimension with the smaller scale first (height first on ties). For
    # float input the order changes results only through rounding; for uint8 input, whose
    # intermediate result is rounded, it matters.
    out = resize_w(resize_h(out)) if scale_h <= scale_w else resize_h(resize_w(out))

    if is_uint8:
        out = out.to(torch.uint8)
    return out.squeeze(0) if squeeze else out


class Imresize(nn.Module):
    """Module form of :func:`imresize` with a fixed scale factor or output size.

    Args:
        scale: scale factor for both dimensions.
        size: output ``(height, width)``; give exactly one of ``scale`` and ``size``.
        antialias: stretch the kernel when shrinking (MATLAB's default).
        border: ``"replicate"`` (MATLAB) or ``"symmetric"`` (BasicSR's port).

    Shape:
        - Input: :math:`(B, C, H, W)` or :math:`(C, H, W)`.
        - Output: :math:`(B, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})`.

    Example:
        >>> down = Imresize(scale=1 / 4)
        >>> down(torch.rand(1, 3, 64, 64)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(
        self,
        scale: float | None = None,
        size: tuple[int, int] | None = None,
        antialias: bool = True,
        border: str = "replicate",
    ) -> None:
        super().__init__()
        if (scale is None) == (size is None):
            raise ValueError("Give exactly one of scale and size.")
        _check_border(border)
        self.scale = scale
        self.size = None if size is None else tuple(size)
        self.antialias = antialias
        self.border = border

    def forward(self, x: Tensor) -> Tensor:
        return imresize(
            x, scale=self.scale, size=self.size, antialias=self.antialias, border=self.border
        )

    def extra_repr(self) -> str:
        what = f"scale={self.scale}" if self.scale is not None else f"size={self.size}"
        return f"{what}, antialias={self.antialias}, border={self.border!r}"
