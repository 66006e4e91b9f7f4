"""JPEG compression artifacts through kornia's differentiable JPEG codec."""

from __future__ import annotations

from torch import Tensor

__all__ = ["jpeg"]


def jpeg(images: Tensor, quality: Tensor) -> Tensor:
    """Encode and decode each image as JPEG at its own quality (4:2:0, standard tables).

    The images are clamped to [0, 1] first, as Real-ESRGAN does before its JPEG step.
    kornia's codec (``kornia.enhance.jpeg_codec_differentiable``) pads to a multiple of 16
    and crops back, so any size works; its rounding is a smooth polynomial (it is made for
    gradients), which makes it close to, not bit-equal with, libjpeg (see the tests for the
    measured distance to Pillow's encoder).

    Args:
        images: RGB in [0, 1].
        quality: JPEG quality in [1, 100] per image (one value for all is accepted too).

    Shape:
        - images: :math:`(B, 3, H, W)`; quality: :math:`(B,)` or :math:`(1,)`.
        - Output: :math:`(B, 3, H, W)` in [0, 1].

    Example:
        >>> import torch
        >>> y = jpeg(torch.rand(2, 3, 20, 30), torch.tensor([30.0, 95.0]))
        >>> tuple(y.shape)
        (2, 3, 20, 30)
    """
    from kornia.enhance import jpeg_codec_differentiable

    quality = quality.to(images.device, images.dtype)
    return jpeg_codec_differentiable(images.clamp(0, 1), quality).clamp(0, 1)
