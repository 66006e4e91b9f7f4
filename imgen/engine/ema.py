"""Exponential moving average of network weights."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """EMA copies of networks, with the warmup of timm's ModelEmaV3.

    The effective decay at update ``t`` is ``min(decay, (1 + t) / (10 + t))``, so short runs
    are not dominated by the random initialization.

    Example:
        >>> ema = EMA({"G": nn.Linear(2, 2)}, decay=0.999)
        >>> ema.update({"G": nn.Linear(2, 2)}, step=1)
    """

    def __init__(self, nets: dict[str, nn.Module], decay: float) -> None:
        self.decay = decay
        self.nets = {
            name: copy.deepcopy(net).eval().requires_grad_(False) for name, net in nets.items()
        }

    def current_decay(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, nets: dict[str, nn.Module], step: int) -> None:
        weight = 1.0 - self.current_decay(step)
        for name, ema_net in self.nets.items():
            ema_params = list(ema_net.parameters())
            params = [p.detach() for p in nets[name].parameters()]
            if ema_params:
                torch._foreach_lerp_(ema_params, params, weight)
            for ema_buf, buf in zip(ema_net.buffers(), nets[name].buffers(), strict=True):
                ema_buf.copy_(buf)
