"""DnCNN, the residual denoiser of Zhang et al. 2017.

Reference: K. Zhang, W. Zuo, Y. Chen, D. Meng, L. Zhang, "Beyond a Gaussian Denoiser: Residual
Learning of Deep CNN for Image Denoising", IEEE TIP 2017.
"""

from __future__ import annotations

import torch
from imgen.nn.checks import check_image_input
from torch import nn

__all__ = ["DnCNN"]


class DnCNN(nn.Module):
    """DnCNN: ``depth`` 3x3 convolutions that estimate the noise, subtracted from the input.

    ``Conv+ReLU``, then ``depth - 2`` times ``Conv+BN+ReLU``, then ``Conv``; every conv keeps
    the size (padding 1), so any input size works. The middle convolutions have no bias (batch
    norm's shift replaces it). Residual learning: the network outputs ``x - f(x)``, where
    ``f(x)`` is the estimated noise, which is what makes one model fit many noise levels.

    With ``in_channels=1, depth=17, features=64`` this is the paper's DnCNN-S: 556,096
    parameters.

    Args:
        in_channels: image channels (3 for RGB, 1 for grayscale); the output has as many.
        depth: number of convolutions, at least 2 (17 in the paper, 20 for blind denoising).
        features: channels of the hidden convolutions.

    Shape:
        - Input: :math:`(B, C, H, W)` with :math:`C` = ``in_channels``, images in [0, 1].
        - Output: :math:`(B, C, H, W)`, the denoised images (not clamped).

    Example:
        >>> net = DnCNN(depth=3, features=8)
        >>> net(torch.rand(2, 3, 17, 23)).shape
        torch.Size([2, 3, 17, 23])
    """

    def __init__(self, in_channels: int = 3, depth: int = 17, features: int = 64) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"DnCNN needs depth >= 2 (first and last conv), got {depth}.")
        if in_channels < 1 or features < 1:
            raise ValueError(
                f"DnCNN needs positive in_channels and features, got {in_channels}, {features}."
            )
        self.in_channels = in_channels
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, features, 3, padding=1, bias=True),
            nn.ReLU(inplace=True),
        ]
        for _ in range(depth - 2):
            layers += [
                nn.Conv2d(features, features, 3, padding=1, bias=False),
                nn.BatchNorm2d(features),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(features, in_channels, 3, padding=1, bias=False))
        self.body = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He initialization (the paper's choice for ReLU networks).
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        # Start close to the identity: the last conv predicts little noise at first, so the
        # early adversarial updates see sensible images rather than noise amplified 17 times.
        nn.init.normal_(self.body[-1].weight, std=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_input(x, self.in_channels, "DnCNN")
        return x - self.body(x)
