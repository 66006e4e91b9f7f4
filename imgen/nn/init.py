"""Weight initialisation shared by the built-in models."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["default_init_weights"]


@torch.no_grad()
def default_init_weights(
    module_or_list: nn.Module | Iterable[nn.Module],
    scale: float = 1.0,
    bias_fill: float = 0.0,
    **kaiming_kwargs: object,
) -> None:
    """Initialise conv, linear and batch-norm layers the way BasicSR does.

    Conv2d and Linear weights get ``kaiming_normal_`` and are then multiplied by ``scale``;
    biases are filled with ``bias_fill``. Batch-norm weights are set to 1 and their biases to
    ``bias_fill``. Residual SR networks (EDSR, MSRResNet, ESRGAN) use ``scale=0.1`` so that every
    residual branch starts close to zero and the deep stack starts close to the identity, which
    is what lets them train without batch norm.

    Args:
        module_or_list: a module, or an iterable of modules; every submodule is visited.
        scale: factor applied to the Kaiming-initialised weights.
        bias_fill: value written into every bias.
        kaiming_kwargs: forwarded to :func:`torch.nn.init.kaiming_normal_` (e.g. ``a=0.2``).

    Example:
        >>> conv = nn.Conv2d(3, 8, 3)
        >>> default_init_weights(conv, scale=0.1)
        >>> bool(conv.bias.abs().sum() == 0)
        True
    """
    modules = [module_or_list] if isinstance(module_or_list, nn.Module) else module_or_list
    for module in modules:
        for m in module.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, **kaiming_kwargs)
                m.weight.mul_(scale)
                if m.bias is not None:
                    m.bias.fill_(bias_fill)
            elif isinstance(m, _BatchNorm):
                if m.weight is not None:
                    nn.init.constant_(m.weight, 1.0)
                if m.bias is not None:
                    m.bias.fill_(bias_fill)
