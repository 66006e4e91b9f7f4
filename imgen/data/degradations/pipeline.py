"""Real-ESRGAN's second-order degradation: parameters drawn per sample, applied per batch.

Two halves, so that a training run stays exact on ``--resume``:

- :func:`draw_params` runs in the data loader (CPU, one sample): every random choice of the
  sample's degradation comes from the sample's ``numpy`` generator
  (:func:`imgen.data.sample_rng`), after its crop and flips. The choices travel in the batch
  as tensors: three 21x21 kernels, the resize factors and modes, the noise and JPEG
  parameters, the stage flags and a seed for the noise.
- :func:`degrade` runs on the training device, on the whole batch: blur with one kernel per
  sample (kornia's ``filter2d``), resize (samples of one size and mode together), noise from
  one ``torch.Generator`` per sample seeded by its draw, JPEG through kornia's codec (samples
  of one size together), then [resize to the LR size + sinc] and JPEG in the drawn order,
  and rounding to 8-bit levels. A sample's result depends on its own draws only, not on the
  batch around it.

The pipeline, per sample (``H x W`` the HR crop, ``s`` the SR scale)::

    stage one   blur(kernel1) -> resize(floor(H * r1)) -> noise -> JPEG(q1)
    stage two   [blur(kernel2) with second_blur_prob] -> resize(int(H / s * r2)) -> noise
                (skipped whole with skip_stage2_prob, imgen's, default 0)
    final       [resize to H/s + sinc] -> JPEG(q2)   or   JPEG(q2) -> [resize to H/s + sinc]
    round       clamp(round(255 x), 0, 255) / 255
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from imgen.data.degradations.blur import blur
from imgen.data.degradations.jpeg import jpeg
from imgen.data.degradations.kernels import (
    MAX_KERNEL_SIZE,
    gaussian_kernel,
    generalized_gaussian_kernel,
    pad_kernel,
    plateau_kernel,
    pulse_kernel,
    sinc_kernel,
)
from imgen.data.degradations.noise import add_noise
from imgen.data.degradations.options import RESIZE_MODES, DegradationOptions
from imgen.data.degradations.resize import resize

__all__ = ["PARAM_KEYS", "degrade", "draw_kernel", "draw_params"]

# What draw_params returns, one entry per sample (collated: one tensor per key).
PARAM_KEYS = (
    "kernel1",
    "kernel2",
    "sinc",
    "sinc_on",
    "scale1",
    "mode1",
    "gaussian1",
    "sigma1",
    "poisson1",
    "gray1",
    "jpeg1",
    "stage2",
    "blur2",
    "scale2",
    "mode2",
    "gaussian2",
    "sigma2",
    "poisson2",
    "gray2",
    "resize_first",
    "mode3",
    "jpeg2",
    "seed",
    "bicubic",
)


# -- drawing (CPU, per sample) ------------------------------------------------------------------
def _uniform(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    low, high = float(bounds[0]), float(bounds[1])
    return float(rng.uniform(low, high)) if high > low else low


def _beta(rng: np.random.Generator, bounds: Sequence[float]) -> float:
    """BasicSR's shape draw: when the range holds 1, half the draws from [low, 1] and half
    from [1, high] (so plateau's default [1, 2] gives beta = 1 half of the time)."""
    low, high = float(bounds[0]), float(bounds[1])
    if low <= 1 <= high:
        return _uniform(rng, (low, 1.0)) if rng.random() < 0.5 else _uniform(rng, (1.0, high))
    return _uniform(rng, (low, high))


def _kernel_sizes(bounds: Sequence[int]) -> list[int]:
    return list(range(int(bounds[0]), int(bounds[1]) + 1, 2))


def draw_kernel(
    rng: np.random.Generator,
    *,
    sizes: Sequence[int],
    sinc_prob: float,
    kinds: Sequence[str],
    probs: Sequence[float],
    sigma: Sequence[float],
    betag: Sequence[float],
    betap: Sequence[float],
) -> Tensor:
    """One random blur kernel, as Real-ESRGAN's dataset draws it, padded to 21x21 (float32).

    The side is drawn from ``sizes``; with ``sinc_prob`` it is a sinc kernel of cut-off in
    [π/3, π] (side below 13) or [π/5, π]; else a family of ``kinds`` drawn with ``probs``,
    sigmas from ``sigma`` (both axes and the angle in [-π, π] for the anisotropic ones), and
    the shape ``beta`` from ``betag`` (generalized) or ``betap`` (plateau).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> k = draw_kernel(rng, sizes=[7, 9], sinc_prob=0.0, kinds=["iso"], probs=[1.0],
        ...                 sigma=[1.0, 2.0], betag=[0.5, 4.0], betap=[1.0, 2.0])
        >>> tuple(k.shape), round(float(k.sum()), 5)
        ((21, 21), 1.0)
    """
    size = int(sizes[int(rng.integers(len(sizes)))])
    if rng.random() < sinc_prob:
        low = math.pi / 3 if size < 13 else math.pi / 5
        kernel = sinc_kernel(size, _uniform(rng, (low, math.pi)))
        return pad_kernel(kernel, MAX_KERNEL_SIZE).float()
    weights = np.asarray(probs, dtype=np.float64)
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    sigma_x = _uniform(rng, sigma)
    if kind.endswith("aniso"):
        sigma_y, theta = _uniform(rng, sigma), _uniform(rng, (-math.pi, math.pi))
    else:
        sigma_y, theta = sigma_x, 0.0
    if kind.startswith("generalized"):
        kernel = generalized_gaussian_kernel(size, sigma_x, sigma_y, theta, _beta(rng, betag))
    elif kind.startswith("plateau"):
        kernel = plateau_kernel(size, sigma_x, sigma_y, theta, _beta(rng, betap))
    else:
        kernel = gaussian_kernel(size, sigma_x, sigma_y, theta)
    return pad_kernel(kernel, MAX_KERNEL_SIZE).float()


def _resize_factor(rng: np.random.Generator, probs: Sequence[float], bounds: Sequence[float]):
    weights = np.asarray(probs, dtype=np.float64)
    direction = int(rng.choice(3, p=weights / weights.sum()))  # up, down, keep
    if direction == 0:
        return _uniform(rng, (1.0, max(1.0, bounds[1])))
    if direction == 1:
        return _uniform(rng, (min(1.0, bounds[0]), 1.0))
    return 1.0


def draw_params(opts: DegradationOptions, rng: np.random.Generator) -> dict[str, Tensor]:
    """Every random choice of one sample's degradation, as tensors (see :data:`PARAM_KEYS`).

    Called with the sample's generator after its crop and flips; the same generator state
    gives the same parameters. The draws are made in a fixed order, whatever their outcome.

    Example:
        >>> p = draw_params(DegradationOptions(), np.random.default_rng(0))
        >>> sorted(p) == sorted(PARAM_KEYS), tuple(p["kernel1"].shape)
        (True, (21, 21))
    """
    sizes = _kernel_sizes(opts.kernel_range)
    kernel1 = draw_kernel(
        rng,
        sizes=sizes,
        sinc_prob=opts.sinc_prob,
        kinds=opts.kernel_list,
        probs=opts.kernel_prob,
        sigma=opts.blur_sigma,
        betag=opts.betag_range,
        betap=opts.betap_range,
    )
    kernel2 = draw_kernel(
        rng,
        sizes=sizes,
        sinc_prob=opts.sinc_prob2,
        kinds=opts.kernel_list2,
        probs=opts.kernel_prob2,
        sigma=opts.blur_sigma2,
        betag=opts.betag_range2,
        betap=opts.betap_range2,
    )
    sinc_on = bool(rng.random() < opts.final_sinc_prob)
    if sinc_on:
        size = int(sizes[int(rng.integers(len(sizes)))])
        sinc = pad_kernel(sinc_kernel(size, _uniform(rng, (math.pi / 3, math.pi)))).float()
    else:
        sinc = pulse_kernel().float()
    modes = [RESIZE_MODES.index(m) for m in opts.resize_modes]

    def mode() -> int:
        return modes[int(rng.integers(len(modes)))]

    out: dict[str, Any] = {"kernel1": kernel1, "kernel2": kernel2, "sinc": sinc}
    out["sinc_on"] = sinc_on
    out["scale1"] = _resize_factor(rng, opts.resize_prob, opts.resize_range)
    out["mode1"] = mode()
    out["gaussian1"] = bool(rng.random() < opts.gaussian_noise_prob)
    out["sigma1"] = _uniform(rng, opts.noise_range)
    out["poisson1"] = _uniform(rng, opts.poisson_scale_range)
    out["gray1"] = bool(rng.random() < opts.gray_noise_prob)
    out["jpeg1"] = _uniform(rng, opts.jpeg_range)
    out["stage2"] = bool(rng.random() >= opts.skip_stage2_prob)
    out["blur2"] = bool(rng.random() < opts.second_blur_prob)
    out["scale2"] = _resize_factor(rng, opts.resize_prob2, opts.resize_range2)
    out["mode2"] = mode()
    out["gaussian2"] = bool(rng.random() < opts.gaussian_noise_prob2)
    out["sigma2"] = _uniform(rng, opts.noise_range2)
    out["poisson2"] = _uniform(rng, opts.poisson_scale_range2)
    out["gray2"] = bool(rng.random() < opts.gray_noise_prob2)
    out["resize_first"] = bool(rng.random() < opts.resize_first_prob)
    out["mode3"] = mode()
    out["jpeg2"] = _uniform(rng, opts.jpeg_range2)
    out["seed"] = int(rng.integers(0, 2**63 - 1))
    # drawn last, so the draws above are those of a run without it
    out["bicubic"] = bool(rng.random() < opts.bicubic_prob)
    # floats as float64: the resize sizes come from them exactly as drawn
    return {
        k: v
        if isinstance(v, Tensor)
        else torch.tensor(v, dtype=torch.float64 if isinstance(v, float) else None)
        for k, v in out.items()
    }


# -- applying (device, per batch) ---------------------------------------------------------------
Images = list[Tensor]  # one (1, C, h, w) tensor per sample: the sizes part ways mid-pipeline


def _grouped(
    xs: Images,
    indices: Sequence[int],
    fn: Callable[[Tensor, list[int], Any], Tensor],
    key: Callable[[int], Any] = lambda i: None,
) -> None:
    """Replace ``xs[i]`` (i in ``indices``) by ``fn(batch, its indices, key)``, batching the
    samples of one shape and ``key`` together."""
    groups: dict[tuple, list[int]] = {}
    for i in indices:
        groups.setdefault((tuple(xs[i].shape), key(i)), []).append(i)
    for (_, k), members in groups.items():
        out = fn(torch.cat([xs[i] for i in members]), members, k)
        for j, i in enumerate(members):
            xs[i] = out[j : j + 1]


def _resize_to(xs: Images, indices: Sequence[int], sizes: dict[int, tuple[int, int]], modes):
    _grouped(
        xs,
        indices,
        lambda batch, members, key: resize(batch, key[0], RESIZE_MODES[key[1]]),
        key=lambda i: (sizes[i], modes[i]),
    )


def _blur(xs: Images, indices: Sequence[int], kernels: Tensor) -> None:
    _grouped(xs, indices, lambda batch, members, _: blur(batch, kernels[members]))


def _jpeg(xs: Images, indices: Sequence[int], quality: Tensor) -> None:
    _grouped(xs, indices, lambda batch, members, _: jpeg(batch, quality[members]))


@torch.no_grad()
def degrade(hr: Tensor, params: dict[str, Tensor], scale: int) -> Tensor:
    """The LR images of a batch of HR images, by each sample's drawn degradation.

    Args:
        hr: HR images in [0, 1], on the device the pipeline runs on.
        params: the collated :func:`draw_params` of the samples (any device).
        scale: the SR factor: the result is ``H // scale`` x ``W // scale``.

    Shape:
        - hr: :math:`(B, 3, H, W)`, float.
        - Output: :math:`(B, 3, H // scale, W // scale)`, on 8-bit levels (``k / 255``).

    Example:
        >>> from torch.utils.data import default_collate
        >>> opts = DegradationOptions()
        >>> params = default_collate([draw_params(opts, np.random.default_rng(s)) for s in (1, 2)])
        >>> tuple(degrade(torch.rand(2, 3, 32, 32), params, 4).shape)
        (2, 3, 8, 8)
    """
    batch, _, height, width = hr.shape
    device, dtype = hr.device, hr.dtype
    if scale < 1 or height < scale or width < scale:
        raise ValueError(f"cannot make a x{scale} LR image of a {height}x{width} HR image")
    p = {k: v.tolist() for k, v in params.items() if v.dim() == 1}
    kernels = {k: params[k].to(device=device, dtype=dtype) for k in ("kernel1", "kernel2", "sinc")}
    jpeg1 = params["jpeg1"].to(device=device, dtype=dtype)
    jpeg2 = params["jpeg2"].to(device=device, dtype=dtype)
    generators = [torch.Generator(device=device).manual_seed(int(s)) for s in p["seed"]]
    everyone = list(range(batch))

    def noise(i: int, stage: int) -> None:
        xs[i] = add_noise(
            xs[i],
            gaussian=p[f"gaussian{stage}"][i],
            sigma=p[f"sigma{stage}"][i],
            poisson_scale=p[f"poisson{stage}"][i],
            gray=p[f"gray{stage}"][i],
            generator=generators[i],
        )

    # stage one
    xs: Images = list(blur(hr, kernels["kernel1"]).split(1))
    sizes = {
        i: (max(1, math.floor(height * r)), max(1, math.floor(width * r)))
        for i, r in enumerate(p["scale1"])
    }
    _resize_to(xs, everyone, sizes, p["mode1"])
    for i in everyone:
        noise(i, 1)
    _jpeg(xs, everyone, jpeg1)
    # stage two (Real-ESRGAN skips only its blur, with 1 - second_blur_prob)
    second = [i for i in everyone if p["stage2"][i]]
    _blur(xs, [i for i in second if p["blur2"][i]], kernels["kernel2"])
    sizes = {
        i: (
            max(1, int(height / scale * p["scale2"][i])),
            max(1, int(width / scale * p["scale2"][i])),
        )
        for i in second
    }
    _resize_to(xs, second, sizes, p["mode2"])
    for i in second:
        noise(i, 2)
    # the final step: [resize to the LR size + sinc] and JPEG, in the drawn order
    lr_size = {i: (height // scale, width // scale) for i in everyone}
    first = [i for i in everyone if p["resize_first"][i]]
    last = [i for i in everyone if not p["resize_first"][i]]
    sinc = [i for i in everyone if p["sinc_on"][i]]
    _resize_to(xs, first, lr_size, p["mode3"])
    _blur(xs, [i for i in first if i in sinc], kernels["sinc"])
    _jpeg(xs, everyone, jpeg2)
    _resize_to(xs, last, lr_size, p["mode3"])
    _blur(xs, [i for i in last if i in sinc], kernels["sinc"])
    clean = [i for i in everyone if p.get("bicubic", [False] * batch)[i]]
    if clean:  # bicubic_prob: these samples get plain bicubic downscaling instead
        from imgen.data.resize import imresize

        small = imresize(hr[clean], 1 / scale)
        for j, i in enumerate(clean):
            xs[i] = small[j : j + 1]
    return (torch.cat(xs) * 255.0).round().clamp(0, 255) / 255.0
