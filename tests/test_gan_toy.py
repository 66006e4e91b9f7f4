"""The objectives proven on the 2-D toy (8 Gaussians on a ring), not just run.

WGAN-GP (5 critic steps) and hinge + spectral norm must cover at least 7 of the 8 modes with at
least half of 2,500 samples within 0.1 of a mode centre, seeded, each in well under a minute of
CPU on one thread. ``benchmarks/gan_toy.py`` reports the other objectives.
"""

from __future__ import annotations

import time

import pytest
import torch

from imgen.testing.toy import (
    TOY_OBJECTIVES,
    mlp,
    mode_centres,
    mode_coverage,
    ring_of_gaussians,
    train_toy_gan,
)


def test_ring_samples_sit_on_their_modes() -> None:
    x = ring_of_gaussians(8000, torch.Generator().manual_seed(0))
    assert x.shape == (8000, 2)
    dist = torch.cdist(x, mode_centres()).min(dim=1).values
    # Each coordinate has std 0.02, so the distance to the centre is Rayleigh(0.02): its mean
    # is 0.02 sqrt(pi / 2) = 0.0251, and essentially nothing lies beyond 0.1 (5 std).
    assert dist.mean().item() == pytest.approx(0.0251, abs=0.001)
    assert mode_coverage(x) == (8, 1.0)
    again = ring_of_gaussians(8000, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)


def test_mode_coverage_counts_modes_and_good_samples() -> None:
    centres = mode_centres()
    # 3 modes hit exactly, 1 mode with too few samples to count (2 < 1 % of 400), and a cloud
    # at the origin.
    samples = torch.cat(
        [centres[:3].repeat(100, 1), centres[5:6].repeat(2, 1), torch.zeros(98, 2)],
    )
    modes, share = mode_coverage(samples)
    assert modes == 3
    assert share == pytest.approx(302 / 400)
    # Off by 0.09 still counts as good; 0.11 does not.
    nudged = centres + torch.tensor([0.09, 0.0])
    assert mode_coverage(nudged.repeat(10, 1)) == (8, 1.0)
    assert mode_coverage((centres + torch.tensor([0.0, 0.11])).repeat(10, 1))[1] == 0.0
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        mode_coverage(torch.zeros(10, 3))


def test_toy_networks_have_three_hidden_layers_of_128() -> None:
    net = mlp(2, 1)
    widths = [m.out_features for m in net if isinstance(m, torch.nn.Linear)]
    assert widths == [128, 128, 128, 1]


def test_train_toy_gan_is_seeded_and_leaves_global_state_alone() -> None:
    torch.manual_seed(123)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    a = train_toy_gan("hinge", spectral_norm=True, steps=5, seed=1, n_samples=50)
    b = train_toy_gan("hinge", spectral_norm=True, steps=5, seed=1, n_samples=50)
    c = train_toy_gan("hinge", spectral_norm=True, steps=5, seed=2, n_samples=50)
    assert a.shape == (50, 2) and not a.requires_grad
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "wasserstein"}, "Unknown GAN loss"),
        ({"kind": "hinge", "n_critic": 0}, "n_critic"),
        ({"kind": "hinge", "ema": 1.0}, "ema"),
    ],
)
def test_train_toy_gan_rejects_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        train_toy_gan(**kwargs, steps=1)


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["wgan-gp", "hinge+SN"])
def test_objective_covers_the_ring(objective: str) -> None:
    options = TOY_OBJECTIVES[objective]
    if objective == "wgan-gp":
        assert options["n_critic"] == 5  # the setting the issue asks to prove
    else:
        assert options["spectral_norm"] and options["kind"] == "hinge"
    start = time.process_time()
    samples = train_toy_gan(**options, seed=0)
    cpu = time.process_time() - start
    modes, share = mode_coverage(samples)
    assert samples.shape == (2500, 2)
    assert modes >= 7, f"{objective} covered {modes} modes"
    assert share >= 0.5, f"{objective}: only {share:.1%} of the samples within 0.1 of a mode"
    assert cpu < 120, f"{objective} took {cpu:.0f} s of CPU"
