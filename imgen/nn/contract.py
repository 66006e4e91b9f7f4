"""What the core may read from a model besides its ``forward``: the model contract.

A generator may declare two attributes, as class or instance attributes, by subclassing
:class:`ImageModel` (any ``nn.Module`` works as a model; these are optional):

- ``required_multiple``: the input's height and width must be multiples of this (a U-Net of
  depth 8: 256). Prediction pads to it and crops back, so any image size works.
- ``weights_note``: one sentence on where pretrained weights came from (or why there are
  none), shown when training starts.
- ``supports_half`` / ``supports_bfloat16``: False when the network gives wrong results in
  fp16 / bf16 (some transformer architectures); prediction then runs it in fp32.

The functions below are how the core reads them, with their defaults for other modules.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ImageModel", "required_multiple", "supports", "weights_note"]


class ImageModel(nn.Module):
    """Base class of models that declare the contract's attributes.

    Example:
        >>> class Net(ImageModel):
        ...     required_multiple = 8
        >>> required_multiple(Net()), required_multiple(nn.Identity())
        (8, 1)
    """

    required_multiple: int = 1
    weights_note: str | None = None
    supports_half: bool = True
    supports_bfloat16: bool = True


def required_multiple(net: nn.Module) -> int:
    """The side multiple ``net`` needs: its ``required_multiple``, or 1."""
    return net.required_multiple if isinstance(net, ImageModel) else 1


def weights_note(net: nn.Module) -> str | None:
    """What ``net`` says about its pretrained weights, or None."""
    return net.weights_note if isinstance(net, ImageModel) else None


def supports(net: nn.Module, dtype: torch.dtype) -> bool:
    """Whether ``net`` may run in ``dtype`` (fp16 / bf16; anything else: True)."""
    if not isinstance(net, ImageModel):
        return True
    if dtype == torch.float16:
        return net.supports_half
    if dtype == torch.bfloat16:
        return net.supports_bfloat16
    return True
