"""Input checks shared by the models: one sentence that names the model and the fix."""

from __future__ import annotations

import torch


def check_image_input(x: torch.Tensor, channels: int, name: str, multiple: int = 1) -> None:
    """Raise ValueError unless ``x`` is (B, ``channels``, H, W) with H and W multiples of
    ``multiple``.

    Example:
        >>> check_image_input(torch.zeros(1, 3, 8, 8), 3, "Net", multiple=4)
    """
    if x.ndim != 4:
        raise ValueError(f"{name} expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}.")
    if x.shape[1] != channels:
        raise ValueError(f"{name} expects {channels} input channels, got {x.shape[1]}.")
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(
            f"{name} needs height and width that are multiples of {multiple}, got {h}x{w}; "
            f"pad the input (e.g. reflect) to a multiple of {multiple} and crop the output back."
        )
