"""Conditions derived from photos, computed on the batch's device (torch + kornia).

When a data folder holds photos but no A/B pairs, the translate task learns to map a
condition derived from each photo back to the photo: edges -> photo, grayscale -> colour,
blurred -> sharp, masked -> inpainted, pencil sketch -> photo. Every function takes a float
batch (B, 3, H, W) in [0, 1] and returns a float batch (B, 3, H, W) in [0, 1] (single-channel
results are replicated to 3 channels so that every condition fits the same generator).
"""

from __future__ import annotations

import math

import kornia
import torch

__all__ = ["CONDITIONS", "blur", "edges", "gray", "make_condition", "mask", "sketch"]

CONDITIONS = ("edges", "gray", "blur", "mask", "sketch")


def _check_photo(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} expects a (B, 3, H, W) photo batch, got {shape}.")
    if not x.is_floating_point():
        raise ValueError(f"{name} expects a float batch in [0, 1], got {x.dtype}.")


def _rgb(single: torch.Tensor) -> torch.Tensor:
    return single.expand(-1, 3, -1, -1).contiguous()


def _kernel_size(sigma: float) -> int:
    """An odd Gaussian kernel covering +-3 sigma: 2 * ceil(3 sigma) + 1."""
    return 2 * math.ceil(3.0 * sigma) + 1


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with replicated borders (any image size; constants stay constant)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}.")
    k = _kernel_size(sigma)
    return kornia.filters.gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="replicate")


def gray(x: torch.Tensor) -> torch.Tensor:
    """Grayscale (ITU-R BT.601 luma, kornia's weights) replicated to 3 channels.

    Args:
        x: photos in [0, 1].

    Returns:
        the grayscale images, the same value in all three channels.

    Shape:
        - Input: :math:`(B, 3, H, W)`
        - Output: :math:`(B, 3, H, W)`

    Example:
        >>> y = gray(torch.rand(2, 3, 32, 32))
        >>> y.shape, bool((y[:, 0] == y[:, 2]).all())
        (torch.Size([2, 3, 32, 32]), True)
    """
    _check_photo(x, "gray")
    return _rgb(kornia.color.rgb_to_grayscale(x))


def edges(x: torch.Tensor, low: float = 0.1, high: float = 0.2, sigma: float = 2.0) -> torch.Tensor:
    """Canny edges of the grayscale photo: 1 on an edge, 0 elsewhere, replicated to 3 channels.

    Uses ``kornia.filters.canny`` (Gaussian smoothing, Sobel gradients, non-maximum
    suppression, hysteresis). The thresholds apply to kornia's gradient magnitude, which is
    about 1.5 across a full black-to-white step at ``sigma=2``: the defaults keep contours of
    about 7 % (weak, if connected to a strong one) and 13 % (strong) contrast, which on
    photos gives clean object outlines without most of the texture. Computed in float32
    whatever the input dtype.

    Args:
        x: photos in [0, 1].
        low: hysteresis low threshold on the gradient magnitude.
        high: hysteresis high threshold on the gradient magnitude.
        sigma: standard deviation of the smoothing Gaussian (kernel 2 * ceil(3 sigma) + 1).

    Returns:
        the binary edge map in {0, 1}.

    Shape:
        - Input: :math:`(B, 3, H, W)`
        - Output: :math:`(B, 3, H, W)`

    Example:
        >>> flat = torch.full((1, 3, 32, 32), 0.5)
        >>> edges(flat).sum().item()
        0.0
    """
    _check_photo(x, "edges")
    if not 0 <= low <= high:
        raise ValueError(f"edges needs 0 <= low <= high, got low={low}, high={high}.")
    g = kornia.color.rgb_to_grayscale(x.float())
    k = _kernel_size(sigma)
    _, e = kornia.filters.canny(g, low, high, kernel_size=(k, k), sigma=(sigma, sigma))
    return _rgb(e.clamp(0, 1)).to(x.dtype)


def blur(x: torch.Tensor, sigma: float = 3.0) -> torch.Tensor:
    """Gaussian blur (kernel 2 * ceil(3 sigma) + 1, replicated borders).

    Args:
        x: photos in [0, 1].
        sigma: standard deviation in pixels.

    Returns:
        the blurred photos, still in [0, 1]; a constant image is unchanged.

    Shape:
        - Input: :math:`(B, 3, H, W)`
        - Output: :math:`(B, 3, H, W)`

    Example:
        >>> blur(torch.rand(2, 3, 32, 32), sigma=1.5).shape
        torch.Size([2, 3, 32, 32])
    """
    _check_photo(x, "blur")
    return _gaussian(x, sigma).clamp(0, 1)


def mask(x: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """Fill the holes of each photo with 0 (black); the other pixels are unchanged.

    The condition stays a 3-channel image, like every other condition, so the same
    generator fits; the mask itself is not appended as a channel. A black pixel of the photo
    therefore looks like a hole to the generator; the task keeps the mask in the batch
    (``batch["mask"]``) should it want to restrict a loss to the holes or to paste the
    known pixels back.

    Args:
        x: photos in [0, 1].
        holes: 1 (or True) where a pixel is missing, 0 elsewhere; any dtype, any device is
            moved to x's.

    Returns:
        ``x * (1 - holes)``.

    Shape:
        - Input: :math:`(B, 3, H, W)` and holes :math:`(B, 1, H, W)`
        - Output: :math:`(B, 3, H, W)`

    Example:
        >>> holes = torch.zeros(1, 1, 8, 8)
        >>> holes[..., 2:4, 2:4] = 1
        >>> mask(torch.ones(1, 3, 8, 8), holes).sum().item()
        180.0
    """
    _check_photo(x, "mask")
    if holes.ndim != 4 or holes.shape[1] != 1 or holes.shape[-2:] != x.shape[-2:]:
        raise ValueError(
            f"mask expects holes of shape (B, 1, H, W) matching the photos {tuple(x.shape)}, "
            f"got {tuple(holes.shape)}."
        )
    keep = 1 - holes.to(device=x.device, dtype=x.dtype).clamp(0, 1)
    return x * keep


def sketch(x: torch.Tensor, sigma: float = 3.0, eps: float = 1e-3) -> torch.Tensor:
    """Pencil sketch: colour dodge of the grayscale with its blurred inverse.

    ``g / (1 - blur(1 - g))`` clipped to [0, 1]: flat regions become white and dark
    contours become grey strokes, as in the classic "pencil sketch" filter. Replicated to 3
    channels.

    Args:
        x: photos in [0, 1].
        sigma: blur of the inverted grayscale in pixels; larger gives thicker strokes.
        eps: floor of the dodge's denominator, avoiding a division by zero.

    Returns:
        the sketch in [0, 1].

    Shape:
        - Input: :math:`(B, 3, H, W)`
        - Output: :math:`(B, 3, H, W)`

    Example:
        >>> flat = torch.full((1, 3, 16, 16), 0.5)
        >>> bool(torch.allclose(sketch(flat), torch.ones(1, 3, 16, 16)))
        True
    """
    _check_photo(x, "sketch")
    g = kornia.color.rgb_to_grayscale(x)
    blurred_inverse = _gaussian(1 - g, sigma)
    dodge = g / (1 - blurred_inverse).clamp_min(eps)
    return _rgb(dodge.clamp(0, 1))


def make_condition(name: str, photo: torch.Tensor, batch: dict | None = None) -> torch.Tensor:
    """The condition `name` (one of ``CONDITIONS``) of a photo batch.

    Args:
        name: "edges", "gray", "blur", "mask" or "sketch".
        photo: photos in [0, 1].
        batch: the batch the photos came from; "mask" reads its holes from ``batch["mask"]``
            (which `PhotoDataset` provides with ``condition="mask"``). Unused otherwise.

    Returns:
        the condition, in [0, 1].

    Shape:
        - Input: :math:`(B, 3, H, W)`
        - Output: :math:`(B, 3, H, W)`

    Raises:
        ValueError: unknown name, or "mask" without ``batch["mask"]``.

    Example:
        >>> make_condition("gray", torch.rand(1, 3, 8, 8), {}).shape
        torch.Size([1, 3, 8, 8])
    """
    if name == "mask":
        if batch is None or "mask" not in batch:
            raise ValueError(
                "The 'mask' condition needs the holes in batch['mask'] (B, 1, H, W); build the "
                "dataset with condition='mask' so that every item carries one."
            )
        return mask(photo, batch["mask"])
    functions = {"edges": edges, "gray": gray, "blur": blur, "sketch": sketch}
    if name not in functions:
        raise ValueError(f"Unknown condition {name!r}; choose one of {', '.join(CONDITIONS)}.")
    return functions[name](photo)
