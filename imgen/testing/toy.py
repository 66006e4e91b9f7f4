"""A 2-D toy that tells GAN objectives apart: 8 Gaussians on a ring.

The target is a mixture of 8 Gaussians (std 0.02) centred on a circle of radius 2. A generator
that collapses onto a few modes, or spreads its mass between them, is visible at once in two
numbers (:func:`mode_coverage`): how many modes it covers and which share of its samples lands
within 0.1 of a mode centre. :func:`train_toy_gan` trains small MLPs (3 hidden layers of 128)
with the core's :func:`~imgen.losses.adversarial.discriminator_objective` /
:func:`~imgen.losses.adversarial.generator_objective` and, optionally,
:func:`~imgen.nn.spectral.apply_spectral_norm`, i.e. exactly the code the image tasks use.

``benchmarks/gan_toy.py`` prints the table per objective; ``tests/test_gan_toy.py`` holds
WGAN-GP and hinge + SN to it.

Example:
    >>> samples = train_toy_gan("hinge", spectral_norm=True, seed=0)  # doctest: +SKIP
    >>> mode_coverage(samples)  # doctest: +SKIP
    (8, 0.9...)
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from imgen.losses.adversarial import (
    canonical_kind,
    discriminator_objective,
    generator_objective,
)
from imgen.nn.spectral import apply_spectral_norm

__all__ = [
    "RING_MODES",
    "RING_RADIUS",
    "RING_STD",
    "TOY_OBJECTIVES",
    "mlp",
    "mode_centres",
    "mode_coverage",
    "ring_of_gaussians",
    "train_toy_gan",
]

RING_MODES = 8
RING_RADIUS = 2.0
RING_STD = 0.02

#: The objectives of the benchmark table, as keyword arguments of :func:`train_toy_gan` (the
#: rest at its defaults: 3,000 generator steps, Adam 2e-4, batch 256). WGAN-GP takes 5 critic
#: steps per generator step, as in its paper, each costlier (the penalty's double backward):
#: half the generator steps, batches of 128 and a higher learning rate keep it within about
#: the others' time (at batch 256 it covered as well: 71 / 75 / 63 % on seeds 0 / 1 / 2).
TOY_OBJECTIVES: dict[str, dict[str, Any]] = {
    "vanilla": {"kind": "vanilla"},
    "lsgan": {"kind": "lsgan"},
    "hinge": {"kind": "hinge"},
    "hinge+SN": {"kind": "hinge", "spectral_norm": True},
    "wgan-gp": {"kind": "wgan-gp", "n_critic": 5, "steps": 1500, "lr": 5e-4, "batch_size": 128},
    "vanilla+R1": {"kind": "vanilla", "r1_weight": 1.0},
}


def mode_centres(modes: int = RING_MODES, radius: float = RING_RADIUS) -> torch.Tensor:
    """The ``modes`` centres, evenly spaced on a circle of ``radius``, the first at (radius, 0).

    Shape:
        - Output: :math:`(\\text{modes}, 2)`.

    Example:
        >>> mode_centres().shape, mode_centres().norm(dim=1).allclose(torch.tensor(2.0))
        (torch.Size([8, 2]), True)
    """
    if modes < 1:
        raise ValueError(f"A ring needs at least one mode, got modes={modes}.")
    angles = torch.arange(modes, dtype=torch.float64) * (2 * math.pi / modes)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def ring_of_gaussians(
    n: int,
    generator: torch.Generator | None = None,
    *,
    modes: int = RING_MODES,
    radius: float = RING_RADIUS,
    std: float = RING_STD,
) -> torch.Tensor:
    """``n`` points from the ring mixture: a uniformly chosen centre plus Gaussian noise.

    Args:
        n: number of points.
        generator: random source (a seeded ``torch.Generator`` makes the draw reproducible).
        modes: number of Gaussians.
        radius: radius of the circle of centres.
        std: standard deviation of each Gaussian (isotropic).

    Shape:
        - Output: :math:`(n, 2)`, float32.

    Example:
        >>> x = ring_of_gaussians(1000, torch.Generator().manual_seed(0))
        >>> x.shape, round(x.norm(dim=1).mean().item(), 1)
        (torch.Size([1000, 2]), 2.0)
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}.")
    which = torch.randint(modes, (n,), generator=generator)
    noise = torch.randn(n, 2, generator=generator) * std
    return mode_centres(modes, radius)[which] + noise


def mlp(
    in_features: int, out_features: int, *, hidden: int = 128, layers: int = 3, slope: float = 0.0
) -> nn.Sequential:
    """``layers`` hidden linear layers of ``hidden`` units with (leaky) ReLU, then a linear head.

    Args:
        in_features: input size.
        out_features: output size.
        hidden: units per hidden layer.
        layers: number of hidden layers.
        slope: negative slope of the LeakyReLU (0: ReLU).

    Example:
        >>> net = mlp(2, 1)
        >>> sum(isinstance(m, nn.Linear) for m in net), net(torch.zeros(5, 2)).shape
        (4, torch.Size([5, 1]))
    """
    blocks: list[nn.Module] = []
    width = in_features
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.LeakyReLU(slope) if slope else nn.ReLU()]
        width = hidden
    blocks.append(nn.Linear(width, out_features))
    return nn.Sequential(*blocks)


def train_toy_gan(
    kind: str,
    *,
    spectral_norm: bool = False,
    n_critic: int = 1,
    steps: int = 3000,
    seed: int = 0,
    batch_size: int = 256,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    gp_weight: float = 0.1,
    r1_weight: float = 0.0,
    critic_slope: float = 0.2,
    ema: float = 0.99,
    z_dim: int = 2,
    hidden: int = 128,
    n_samples: int = 2500,
    threads: int | None = 1,
) -> torch.Tensor:
    """Train a generator on :func:`ring_of_gaussians` with one objective; return its samples.

    Each of the ``steps`` generator updates follows ``n_critic`` critic updates on fresh real
    and generated batches (Adam for both). The run is reproducible for a given ``seed`` and
    thread count: every random draw, the network initialisation included, comes from a seeded
    RNG, and the caller's global RNG state is left untouched.

    The defaults are those of ``benchmarks/gan_toy.py`` and the tests (:data:`TOY_OBJECTIVES`
    adds the per-objective ones): the critic uses LeakyReLU(0.2), which keeps a spectrally
    normalized critic from dying (with ReLU, hinge + SN lost every mode on some seeds), and the
    samples come from an average of the generator's weights.

    Args:
        kind: an objective of :data:`~imgen.losses.adversarial.GAN_KINDS` (vanilla, lsgan,
            hinge, wgan-gp, ragan), or ``"wgan"`` (no penalty: pair it with spectral norm).
        spectral_norm: spectral normalization on every layer of the critic (SNGAN).
        n_critic: critic updates per generator update (WGAN-GP: 5).
        steps: generator updates.
        seed: seeds the networks, the data and the noise.
        batch_size: real and generated points per update.
        lr: Adam learning rate (generator and critic).
        betas: Adam betas; (0.5, 0.9) as in WGAN-GP's toy experiments.
        gp_weight: gradient-penalty weight of wgan-gp; the WGAN-GP authors use 0.1 on this
            toy (10 on images).
        r1_weight: R1 weight :math:`\\gamma` (0: off).
        critic_slope: negative slope of the critic's LeakyReLUs (0: ReLU).
        ema: decay of an exponential moving average of the generator's weights, which then
            draws the returned samples (0: the raw generator). Averaging removes the
            oscillation of the last steps around the modes, as the engine's ``--ema`` does.
        z_dim: latent size (standard normal noise).
        hidden: units per hidden layer (3 hidden layers, generator and critic).
        n_samples: number of generator samples returned after training.
        threads: torch CPU threads during the run (restored afterwards); these tiny MLPs are
            fastest on one, and a fixed count keeps the float results, hence the seeded
            outcome, the same on any machine. ``None`` leaves the setting alone.

    Returns:
        The generator's samples, detached, shape :math:`(\\text{n\\_samples}, 2)`.

    Raises:
        ValueError: for an unknown ``kind``, a non-positive ``steps``, ``n_critic`` or
            ``batch_size``, or ``ema`` outside [0, 1).
    """
    canonical_kind(kind)  # an unknown kind fails before any training
    for name, value in (("steps", steps), ("n_critic", n_critic), ("batch_size", batch_size)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")
    if not 0 <= ema < 1:
        raise ValueError(f"ema must be in [0, 1), got {ema}.")

    # fork_rng: the seed governs init, data, noise and the penalty's interpolation weights
    # (which use the global RNG) without disturbing the caller's random state.
    with _num_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = mlp(z_dim, 2, hidden=hidden)
        D = mlp(2, 1, hidden=hidden, slope=critic_slope)
        if spectral_norm:
            apply_spectral_norm(D)
        G_avg = copy.deepcopy(G).requires_grad_(False) if ema > 0 else G
        opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
        opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
        data = torch.Generator().manual_seed(seed + 1)
        relativistic = canonical_kind(kind) == "ragan"

        for _ in range(steps):
            D.requires_grad_(True)
            for _ in range(n_critic):
                real = ring_of_gaussians(batch_size, data)
                with torch.no_grad():
                    fake = G(torch.randn(batch_size, z_dim))
                loss_d, _ = discriminator_objective(
                    kind, D, real, fake, gp_weight=gp_weight, r1_weight=r1_weight
                )
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
            # The generator step needs gradients through D, not into its parameters.
            D.requires_grad_(False)
            real = ring_of_gaussians(batch_size, data) if relativistic else None
            loss_g = generator_objective(kind, D, G(torch.randn(batch_size, z_dim)), real)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            if ema > 0:
                with torch.no_grad():
                    torch._foreach_lerp_(list(G_avg.parameters()), list(G.parameters()), 1 - ema)

        with torch.no_grad():
            return G_avg(torch.randn(n_samples, z_dim))


@contextlib.contextmanager
def _num_threads(threads: int | None) -> Iterator[None]:
    saved = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def mode_coverage(
    samples: torch.Tensor,
    *,
    modes: int = RING_MODES,
    radius: float = RING_RADIUS,
    threshold: float = 0.1,
    min_share: float = 0.01,
) -> tuple[int, float]:
    """How many ring modes ``samples`` cover, and the share of good samples.

    A sample is *good* if it lies within ``threshold`` of a mode centre (0.1 = 5 standard
    deviations of the target Gaussians). A mode is *covered* if at least ``min_share`` of all
    samples are good samples of that mode (1 %: 25 of 2,500, an eighth of its fair share), so
    that a few stray points do not count as a mode.

    Args:
        samples: generated points.
        modes: number of modes on the ring.
        radius: radius of the ring.
        threshold: distance to a centre under which a sample is good.
        min_share: share of all samples a mode needs to count as covered.

    Returns:
        ``(modes_covered, share_good)``.

    Shape:
        - samples: :math:`(N, 2)`.

    Example:
        >>> mode_coverage(mode_centres()[:3].repeat(10, 1))
        (3, 1.0)
        >>> mode_coverage(torch.zeros(10, 2))
        (0, 0.0)
    """
    if samples.ndim != 2 or samples.shape[1] != 2 or samples.shape[0] == 0:
        raise ValueError(
            f"mode_coverage needs a non-empty (N, 2) tensor of points, got {tuple(samples.shape)}."
        )
    centres = mode_centres(modes, radius).to(samples.device)
    dist = torch.cdist(samples.detach().float(), centres)  # (N, modes)
    nearest, which = dist.min(dim=1)
    good = nearest < threshold
    counts = torch.bincount(which[good], minlength=modes)
    covered = int((counts >= max(1, math.ceil(min_share * len(samples)))).sum())
    return covered, float(good.float().mean())
