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


def phase_factors(
    kind: str,
    total: int,
    *,
    pretrain: int = 0,
    warmup: int = 0,
    start: int = 0,
    gan_ratio: float = 1.0,
) -> tuple[Callable[[int], float], Callable[[int], float]]:
    """The LR multipliers of a run with a pixel-loss phase: ``(generator, discriminator)``.

    Each phase has its own schedule, as ESRGAN's two runs do: the generator follows ``kind``
    over steps ``[0, pretrain)`` (with the warmup), then again from 1 over ``[pretrain,
    total)``, times ``gan_ratio`` (the GAN phase's LR over the pretraining one). The
    discriminator, created at the switch, counts its steps from there. Without a pixel-loss
    phase both are :func:`lr_factor` over the whole run.

    Example:
        >>> g, d = phase_factors("cosine", 100, pretrain=70, gan_ratio=0.5)
        >>> g(0), round(g(69), 4), g(70), d(0)
        (1.0, 0.0005, 0.5, 1.0)
    """
    if not pretrain:  # the GAN phase is the whole run
        rule = lr_factor(kind, total, warmup, start=start)
        if gan_ratio == 1.0:
            return rule, rule
        return (lambda step: gan_ratio * rule(step)), rule
    first = lr_factor(kind, pretrain, warmup)
    gan = lr_factor(kind, max(1, total - pretrain), 0, start=max(0, start - pretrain))

    def generator(step: int) -> float:
        return first(step) if step < pretrain else gan_ratio * gan(step - pretrain)

    return generator, gan
