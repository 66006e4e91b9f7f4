"""Learning-rate schedules: warmup, then constant, linear decay or cosine."""

from __future__ import annotations

import math
from collections.abc import Callable


def lr_factor(kind: str, total: int, warmup: int = 0, start: int = 0) -> Callable[[int], float]:
    """Multiplier of the base LR at step ``s``.

    ``linear`` keeps the LR constant until ``start`` then decays it linearly to 0 at ``total``
    (CycleGAN's schedule with ``start = total // 2``); ``cosine`` decays from the end of warmup.
    """
    if kind not in ("constant", "linear", "cosine"):
        raise ValueError(f"unknown lr schedule {kind!r}; use constant, linear or cosine")

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        begin = max(start, warmup)
        span = max(1, total - begin)
        progress = min(1.0, max(0.0, (step - begin) / span))
        if kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor
