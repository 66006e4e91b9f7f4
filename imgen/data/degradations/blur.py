"""Filtering a batch with one kernel per sample (kornia's ``filter2d``)."""

from __future__ import annotations

from torch import Tensor

__all__ = ["blur", "border_for"]


def border_for(image: Tensor, kernel_size: int) -> str:
    """``"reflect"`` (BasicSR's ``filter2D``), or ``"replicate"`` for an image too small to
    be reflected by half the kernel (tiny crops, or a stage resized far down)."""
    return "reflect" if min(image.shape[-2:]) > kernel_size // 2 else "replicate"


def blur(images: Tensor, kernels: Tensor) -> Tensor:
    """Correlate each image with its own kernel, same size out, reflected borders.

    Args:
        images: a batch of images.
        kernels: one odd square kernel per image, or one for all.

    Shape:
        - images: :math:`(B, C, H, W)`, floating point.
        - kernels: :math:`(B, k, k)` or :math:`(1, k, k)`.
        - Output: :math:`(B, C, H, W)`.

    Example:
        >>> import torch
        >>> from imgen.data.degradations.kernels import pulse_kernel
        >>> x = torch.rand(2, 3, 8, 8)
        >>> torch.equal(blur(x, pulse_kernel(5).float()[None].expand(2, 5, 5)), x)
        True
    """
    from kornia.filters import filter2d

    size = kernels.shape[-1]
    return filter2d(images, kernels.to(images), border_type=border_for(images, size))
