"""PatchGAN and PixelGAN discriminators of pix2pix / CycleGAN.

Both classify every patch of the input as real or fake and return a map of logits rather than
one number per image, which models only high-frequency structure and leaves the low
frequencies to an L1 term (Isola et al. 2017, Sec. 3.2.2). The layers, their order and the
state-dict keys are those of the reference ``NLayerDiscriminator`` and ``PixelDiscriminator``
(junyanz/pytorch-CycleGAN-and-pix2pix, ``models/networks.py``), so its ``*_net_D.pth`` files load
directly.

References:
    - Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks".
    - Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial
      Networks".
"""

from __future__ import annotations

import torch
from torch import nn

from imgen.nn.checks import check_image_input
from imgen.nn.contract import ImageModel
from imgen.nn.norm import init_gan_normal, norm_layer, uses_bias

__all__ = ["PatchGAN", "PixelGAN", "receptive_field"]

_KW, _PADW = 4, 1  # every PatchGAN conv: 4x4 kernel, padding 1


def receptive_field(n_layers: int) -> int:
    """Side of the square input patch that one output logit of ``PatchGAN(n_layers=...)`` sees.

    The network is ``n_layers`` 4x4 stride-2 convs followed by two 4x4 stride-1 convs. Walking
    back from one output pixel, a layer with kernel ``k`` and stride ``s`` turns a field of ``r``
    pixels into ``(r - 1) * s + k``: the two stride-1 layers give ``1 -> 4 -> 7`` and each
    stride-2 layer ``r -> 2r + 2``, so ``r = 7 * 2^n + 2 * (2^n - 1) = 9 * 2^n - 2``.

    Args:
        n_layers: stride-2 layers, at least 1.

    Example:
        >>> [receptive_field(n) for n in (1, 2, 3, 4)]
        [16, 34, 70, 142]
    """
    _check_n_layers(n_layers)
    return 9 * 2**n_layers - 2


def _check_n_layers(n_layers: int) -> None:
    if n_layers < 1:
        raise ValueError(f"PatchGAN needs n_layers >= 1, got {n_layers}.")


class PatchGAN(ImageModel):
    """The N-layer PatchGAN discriminator of pix2pix and CycleGAN (the reference's
    ``NLayerDiscriminator``).

    ``C64 - C128 - C256 - C512`` in the paper's notation: a 4x4 stride-2 conv with LeakyReLU(0.2)
    and no norm, ``n_layers - 1`` more 4x4 stride-2 convs with norm, channels doubling up to
    ``8 * ndf``, then a 4x4 stride-1 conv with norm and a 4x4 stride-1 conv to one channel (no
    sigmoid: pair it with a loss that takes logits). With ``n_layers=3`` each logit sees a 70x70
    patch (:func:`receptive_field`). Initialised as the reference (:func:`init_gan_normal`).

    For a conditional (pix2pix) discriminator, concatenate the condition and the image:
    ``in_channels = 6`` for RGB to RGB. Parameters with ``ndf=64, n_layers=3``: 2,768,705 for
    ``in_channels=6`` and batch norm (pix2pix), 2,764,737 for ``in_channels=3`` and instance norm
    (CycleGAN).

    Args:
        in_channels: input channels.
        ndf: channels of the first layer.
        n_layers: stride-2 convs (3 gives the 70x70 PatchGAN, 1 the 16x16 one).
        norm: ``"batch"``, ``"instance"`` or ``"none"``. With ``"none"`` the convs keep their
            bias (the reference drops it; see :func:`imgen.nn.norm.uses_bias`).

    Shape:
        - Input: :math:`(B, C_{in}, H, W)` with ``H, W >= 3 \\cdot 2^{n}`` (``min_size``).
        - Output: :math:`(B, 1, H', W')` logits with ``H' = \\lfloor H / 2^n \\rfloor - 2``
          (256 -> 30, 128 -> 14 for ``n = 3``).

    Example:
        >>> d = PatchGAN(ndf=8)
        >>> d(torch.rand(2, 3, 64, 64)).shape
        torch.Size([2, 1, 6, 6])
    """

    required_multiple: int = 1

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        _check_n_layers(n_layers)
        norm_fn, bias = norm_layer(norm), uses_bias(norm)
        self.in_channels = in_channels
        self.n_layers = n_layers
        self.receptive_field = receptive_field(n_layers)
        self.min_size = 3 * 2**n_layers  # the stride-1 tail needs a 3x3 map to give 1x1

        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, _KW, stride=2, padding=_PADW),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        mult = 1
        for n in range(1, n_layers):  # gradually more filters, capped at 8 * ndf
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, _KW, stride=2, padding=_PADW, bias=bias),
                norm_fn(ndf * mult),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        prev, mult = mult, min(2**n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, _KW, stride=1, padding=_PADW, bias=bias),
            norm_fn(ndf * mult),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * mult, 1, _KW, stride=1, padding=_PADW),  # one logit per patch
        ]
        self.model = nn.Sequential(*layers)
        init_gan_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_channels, type(self).__name__)
        h, w = x.shape[-2:]
        if min(h, w) < self.min_size:
            raise ValueError(
                f"PatchGAN with n_layers={self.n_layers} needs inputs of at least "
                f"{self.min_size}x{self.min_size}, got {h}x{w}; use larger crops or fewer layers."
            )
        return self.model(x)


class PixelGAN(ImageModel):
    """The 1x1 PatchGAN ("PixelGAN") of pix2pix (the reference's ``PixelDiscriminator``).

    Three 1x1 convs (``ndf``, ``2 * ndf``, 1 channel) with LeakyReLU(0.2) and a norm after the
    second: it judges every pixel on its own, so it only pushes colour statistics, not structure
    (Isola et al. 2017, Sec. 4.4). As in the reference, the last conv has a bias only when the
    norm does (``uses_bias``). Initialised as the reference (:func:`init_gan_normal`).

    Args:
        in_channels: input channels.
        ndf: channels of the first layer.
        norm: ``"batch"``, ``"instance"`` or ``"none"``.

    Shape:
        - Input: :math:`(B, C_{in}, H, W)`.
        - Output: :math:`(B, 1, H, W)` logits.

    Example:
        >>> d = PixelGAN(ndf=8)
        >>> d(torch.rand(2, 3, 5, 7)).shape
        torch.Size([2, 1, 5, 7])
    """

    required_multiple: int = 1
    receptive_field: int = 1

    def __init__(self, in_channels: int = 3, ndf: int = 64, norm: str = "batch"):
        super().__init__()
        norm_fn, bias = norm_layer(norm), uses_bias(norm)
        self.in_channels = in_channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_fn(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )
        init_gan_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_channels, type(self).__name__)
        return self.net(x)
