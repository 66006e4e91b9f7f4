"""Small building blocks shared by the built-in models (BasicSR conventions)."""

from __future__ import annotations

import math

import torch
from torch import nn

from imgen.nn.init import default_init_weights
from imgen.nn.spectral import apply_spectral_norm  # re-exported: it used to live here

__all__ = ["PixelShuffleUpsample", "ResidualBlockNoBN", "apply_spectral_norm", "make_layer"]


def make_layer(block: type[nn.Module], n: int, **kwargs: object) -> nn.Sequential:
    """Stack ``n`` instances of ``block(**kwargs)`` in an ``nn.Sequential``.

    The children are named ``0 .. n-1``, which gives the ``body.N.`` state-dict keys that
    BasicSR checkpoints use.

    Args:
        block: the block class.
        n: how many blocks.
        kwargs: passed to every ``block`` constructor.

    Example:
        >>> body = make_layer(ResidualBlockNoBN, 2, num_feat=8)
        >>> len(body)
        2
    """
    if n < 0:
        raise ValueError(f"make_layer needs n >= 0, got {n}.")
    return nn.Sequential(*(block(**kwargs) for _ in range(n)))


class ResidualBlockNoBN(nn.Module):
    """Residual block without batch norm (EDSR / BasicSR): ``x + res_scale * conv(relu(conv(x)))``.

    Batch norm is left out because it removes the range flexibility of the features and hurts
    SR quality (EDSR, Lim et al. 2017). The convolutions are initialised with BasicSR's
    ``default_init_weights(scale=0.1)`` unless ``pytorch_init`` is set.

    Args:
        num_feat: channels in and out.
        res_scale: factor on the residual branch (EDSR uses 0.1 for very wide networks).
        pytorch_init: keep PyTorch's default initialisation instead.

    Shape:
        - Input: :math:`(B, C, H, W)` with ``C = num_feat``.
        - Output: :math:`(B, C, H, W)`.

    Example:
        >>> block = ResidualBlockNoBN(num_feat=8)
        >>> block(torch.rand(1, 8, 5, 5)).shape
        torch.Size([1, 8, 5, 5])
    """

    def __init__(self, num_feat: int = 64, res_scale: float = 1.0, pytorch_init: bool = False):
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        if not pytorch_init:
            default_init_weights([self.conv1, self.conv2], 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x))) * self.res_scale


class PixelShuffleUpsample(nn.Sequential):
    """Sub-pixel upsampling (ESPCN): conv to ``r^2 * C`` channels, then pixel shuffle by ``r``.

    Powers of two are done as repeated x2 steps (as BasicSR's ``Upsample``), which needs fewer
    parameters than one x4 step; scale 3 is a single x3 step. No activation is included.

    Args:
        scale: 2, 3 or a power of two.
        num_feat: channels in and out.

    Shape:
        - Input: :math:`(B, C, H, W)` with ``C = num_feat``.
        - Output: :math:`(B, C, H \\cdot scale, W \\cdot scale)`.

    Example:
        >>> up = PixelShuffleUpsample(4, num_feat=8)
        >>> up(torch.rand(1, 8, 3, 3)).shape
        torch.Size([1, 8, 12, 12])
    """

    def __init__(self, scale: int, num_feat: int):
        layers: list[nn.Module] = []
        if scale >= 1 and (scale & (scale - 1)) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"PixelShuffleUpsample supports scale 3 or a power of 2, got {scale}.")
        super().__init__(*layers)
