"""FLOP counts (torch.utils.flop_counter) and the measured matmul peak they are judged by.

A training step's FLOPs are counted once, in eager mode, by running it under
``FlopCounterMode``: the count is that of PyTorch's formulas for the matrix products and
convolutions (forward and backward; ``2 * Cin * Cout * k * k * Hout * Wout`` per sample for a
convolution's forward), so elementwise work, normalisation and the optimizer are not counted.
It depends on the shapes only, not on the precision or memory format of a mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from imgen.bench.timing import median, synchronize, timed_calls


def count_flops(fn: Callable[[], Any]) -> tuple[int, Any]:
    """The FLOPs counted while ``fn()`` runs, and what it returned."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        result = fn()
    return int(counter.get_total_flops()), result


def matmul_peak(
    device: torch.device,
    dtype: torch.dtype,
    size: int,
    repeats: int,
    warmup: int = 2,
    max_seconds: float = 1.0,
) -> dict[str, Any]:
    """TFLOP/s of a ``size`` x ``size`` matrix product in ``dtype`` on ``device``.

    The median over ``repeats`` timed products after ``warmup`` untimed ones: the practical
    peak that achieved training throughput is compared with (on a GPU, the tensor cores').
    A CPU without bf16 instructions (AVX2 only) multiplies bf16 10x slower than fp32, so that
    one 2048^2 product takes tens of seconds: the size is halved (down to 256) until one
    product is estimated to take at most ``max_seconds``; the size used is reported.
    """
    g = torch.Generator(device="cpu").manual_seed(0)
    probe = min(size, 256)
    seconds = _product_seconds(device, dtype, probe, g, repeats=1, warmup=1)
    while size > probe and seconds * (size / probe) ** 3 > max_seconds:
        size //= 2
    seconds = _product_seconds(device, dtype, size, g, repeats=repeats, warmup=warmup)
    flops = 2 * size**3
    return {
        "dtype": str(dtype).removeprefix("torch."),
        "size": size,
        "repeats": repeats,
        "tflops": float(f"{flops / seconds / 1e12:.4g}"),
    }


def _product_seconds(
    device: torch.device,
    dtype: torch.dtype,
    size: int,
    g: torch.Generator,
    *,
    repeats: int,
    warmup: int,
) -> float:
    """Median seconds of one ``size`` x ``size`` product."""
    a = torch.randn(size, size, generator=g).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=g).to(device=device, dtype=dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    for _ in range(warmup):
        torch.mm(a, b, out=out)
    synchronize(device)
    # On a GPU one product takes about a millisecond: time several per reading.
    per_call = 10 if device.type == "cuda" else 1

    def products() -> None:
        for _ in range(per_call):
            torch.mm(a, b, out=out)

    return median(timed_calls(products, device, repeats)) / per_call
