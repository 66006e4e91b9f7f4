"""A generator as one module of images in [0, 1]: what ``imgen export`` writes."""

from __future__ import annotations

import torch

from imgen.nn.scaling import from_net, to_net


class ImageFunction(torch.nn.Module):
    """A generator as a function of images in [0, 1] with outputs clamped to [0, 1]: what
    ``imgen predict`` computes, as one module (``imgen export`` writes it).

    Args:
        net: the generator.
        signed: the generator works in [-1, 1] (tanh output, the pix2pix family).

    Example:
        >>> f = ImageFunction(torch.nn.Tanh(), signed=True)
        >>> f(torch.zeros(1, 3, 2, 2)).unique()
        tensor([0.1192])
    """

    def __init__(self, net: torch.nn.Module, *, signed: bool = False) -> None:
        super().__init__()
        self.net, self.signed = net, signed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = from_net(self.net(to_net(x))) if self.signed else self.net(x)
        return y.clamp(0, 1)
