"""Images are in [0, 1] outside the networks; tanh generators work in [-1, 1].

Torch-free at import (plain arithmetic), so that task modules import it cheaply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def to_net(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]."""
    return x * 2 - 1


def from_net(y: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (y + 1) / 2
