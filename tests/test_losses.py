"""Adversarial, pixel and perceptual losses against hand computations."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from imgen.losses import (
    GAN_LOSSES,
    CharbonnierLoss,
    GANLoss,
    L1Loss,
    PerceptualLoss,
    WeightsUnavailable,
    adversarial_d_loss,
    adversarial_g_loss,
    charbonnier_loss,
    d_loss_ragan,
    g_loss_ragan,
    gradient_penalty,
    l1_loss,
    r1_penalty,
)

REAL = [1.0, -0.5, 2.0]
FAKE = [0.3, -2.0, 0.5]


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _bce(logits: list[float], label: float) -> float:
    """Mean binary cross-entropy of sigmoid(logits) against a constant label, by hand."""

    def one(x: float) -> float:
        p = 1.0 / (1.0 + math.exp(-x))
        return -(label * math.log(p) + (1.0 - label) * math.log(1.0 - p))

    return _mean([one(x) for x in logits])


def _expected(kind: str, real: list[float], fake: list[float]) -> tuple[float, float]:
    """(D loss, G loss) by hand for each kind."""
    if kind == "vanilla":
        return _bce(real, 1.0) + _bce(fake, 0.0), _bce(fake, 1.0)
    if kind == "lsgan":
        d = _mean([(x - 1.0) ** 2 for x in real]) + _mean([x**2 for x in fake])
        return d, _mean([(x - 1.0) ** 2 for x in fake])
    if kind == "hinge":
        d = _mean([max(0.0, 1.0 - x) for x in real]) + _mean([max(0.0, 1.0 + x) for x in fake])
        return d, -_mean(fake)
    if kind == "wgan":
        return _mean(fake) - _mean(real), -_mean(fake)
    real_rel = [x - _mean(fake) for x in real]
    fake_rel = [x - _mean(real) for x in fake]
    d = 0.5 * (_bce(real_rel, 1.0) + _bce(fake_rel, 0.0))
    g = 0.5 * (_bce(real_rel, 0.0) + _bce(fake_rel, 1.0))
    return d, g


def test_gan_losses_tuple() -> None:
    assert GAN_LOSSES == ("vanilla", "lsgan", "hinge", "wgan", "ragan")


@pytest.mark.parametrize("kind", GAN_LOSSES)
def test_adversarial_losses_match_hand_computation(kind: str) -> None:
    real = torch.tensor(REAL, dtype=torch.float64).view(3, 1)
    fake = torch.tensor(FAKE, dtype=torch.float64).view(3, 1)
    d_expected, g_expected = _expected(kind, REAL, FAKE)
    assert adversarial_d_loss(kind, real, fake).item() == pytest.approx(d_expected, rel=1e-12)
    assert adversarial_g_loss(kind, fake, real).item() == pytest.approx(g_expected, rel=1e-12)
    # The module twin through an identity critic (the "logits" are the images themselves).
    crit = GANLoss(kind)
    loss, logs = crit.discriminator(lambda x: x, real, fake)
    assert loss.item() == pytest.approx(d_expected, rel=1e-12)
    assert logs["d_real"].item() == pytest.approx(_mean(REAL))
    assert crit.generator(lambda x: x, fake, real).item() == pytest.approx(g_expected, rel=1e-12)


def test_ragan_functions_match_dispatch() -> None:
    real = torch.tensor(REAL).view(3, 1, 1, 1)
    fake = torch.tensor(FAKE).view(3, 1, 1, 1)
    assert torch.equal(d_loss_ragan(real, fake), adversarial_d_loss("ragan", real, fake))
    assert torch.equal(g_loss_ragan(real, fake), adversarial_g_loss("ragan", fake, real))


def test_ragan_generator_loss_does_not_backprop_into_real_logits() -> None:
    real = torch.tensor(REAL, requires_grad=True)
    fake = torch.tensor(FAKE, requires_grad=True)
    g_loss_ragan(real, fake).backward()
    assert real.grad is None
    assert fake.grad is not None


def test_label_smoothing() -> None:
    real = torch.tensor(REAL, dtype=torch.float64)
    fake = torch.tensor(FAKE, dtype=torch.float64)
    d = adversarial_d_loss("vanilla", real, fake, real_label=0.9)
    assert d.item() == pytest.approx(_bce(REAL, 0.9) + _bce(FAKE, 0.0), rel=1e-12)
    lsgan = adversarial_d_loss("lsgan", real, fake, real_label=0.9, fake_label=0.1)
    expected = _mean([(x - 0.9) ** 2 for x in REAL]) + _mean([(x - 0.1) ** 2 for x in FAKE])
    assert lsgan.item() == pytest.approx(expected, rel=1e-12)


def test_ganloss_module_has_two_objectives_and_checks_its_arguments() -> None:
    w = torch.tensor([3.0, 4.0])
    crit = GANLoss("wgan-gp", gp_weight=2.0, r1_weight=1.0)
    loss, logs = crit.discriminator(lambda x: x @ w, torch.ones(4, 2), torch.zeros(4, 2))
    # (0 - 7) + 2 * (|w| - 1)^2 + 1/2 * |w|^2 = -7 + 32 + 12.5
    assert loss.item() == pytest.approx(37.5)
    assert sorted(logs) == ["d_fake", "d_real", "gp", "r1"]
    with pytest.raises(TypeError, match=r"\.discriminator\(critic, real, fake\)"):
        crit(torch.zeros(1), True)
    with pytest.raises(ValueError, match="Did you mean 'hinge'"):
        GANLoss("hinje")
    with pytest.raises(ValueError, match=">= 0"):
        GANLoss("vanilla", gp_weight=-1.0)


def test_bad_kind_and_missing_real_logits() -> None:
    with pytest.raises(ValueError, match="Did you mean 'hinge'"):
        adversarial_d_loss("hinje", torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match="real_logits"):
        adversarial_g_loss("ragan", torch.zeros(1))


def test_gradient_penalty_on_linear_critic() -> None:
    # f(x) = <w, x> has gradient w everywhere, so the penalty is (||w|| - 1)^2 for any alpha.
    w = torch.tensor([[[3.0, 0.0], [0.0, 4.0]]], requires_grad=True)  # ||w|| = 5

    def critic(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        return gain * (x * w).flatten(1).sum(1)

    real, fake = torch.rand(4, 1, 2, 2), torch.rand(4, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx(16.0)
    # create_graph=True: the penalty is differentiable in the critic's parameters,
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||.
    gp.backward()
    torch.testing.assert_close(w.grad, 2 * 4 * w.detach() / 5)
    # Keyword arguments reach the critic: gain 2 doubles the gradient norm.
    assert gradient_penalty(critic, real, fake, gain=2.0).item() == pytest.approx(81.0)


def test_r1_penalty_on_linear_critic() -> None:
    w = torch.tensor([3.0, 4.0])
    real = torch.rand(5, 2, requires_grad=True)
    assert r1_penalty(real @ w, real).item() == pytest.approx(25.0)
    with pytest.raises(ValueError, match="requires_grad_"):
        r1_penalty(torch.rand(5, 2) @ w, torch.rand(5, 2))


def test_pixel_losses_match_formulas() -> None:
    pred = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    target = torch.tensor([0.2, 0.5, 0.4], dtype=torch.float64)
    diffs = [-0.2, 0.0, 0.6]
    assert l1_loss(pred, target).item() == pytest.approx(_mean([abs(d) for d in diffs]))
    assert L1Loss()(pred, target).item() == pytest.approx(_mean([abs(d) for d in diffs]))
    for eps in (1e-12, 1e-3):
        expected = _mean([math.sqrt(d * d + eps) for d in diffs])
        assert charbonnier_loss(pred, target, eps=eps).item() == pytest.approx(expected)
        assert CharbonnierLoss(eps=eps)(pred, target).item() == pytest.approx(expected)
    # BasicSR's default: eps inside the root, so a perfect prediction costs sqrt(1e-12).
    assert charbonnier_loss(pred, pred).item() == pytest.approx(1e-6)
    assert charbonnier_loss(pred, target, reduction="none").shape == (3,)
    with pytest.raises(ValueError, match="same shape"):
        l1_loss(pred, target[:2])


def test_perceptual_loss_without_weights_raises(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailable, match=re.escape("vgg19-dcbb9e9d.pth")) as info:
        PerceptualLoss()
    message = str(info.value)
    assert "--vgg-weights" in message
    assert str(tmp_path / "hub" / "checkpoints") in message
    assert isinstance(info.value, RuntimeError)
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        PerceptualLoss(weights_path=tmp_path / "missing.pth")


def test_perceptual_loss_loads_torchvision_vgg19_file(tmp_path: Path, monkeypatch) -> None:
    import torchvision

    # The layout of torchvision's vgg19 on the meta device (no 550 MB allocation); the
    # features get random weights, the classifier is left out to keep the file small.
    with torch.device("meta"):
        reference = torchvision.models.vgg19()
    state = {
        k: torch.randn(v.shape) * 0.05
        for k, v in reference.state_dict().items()
        if k.startswith("features.")
    }
    cache = tmp_path / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(state, cache / "vgg19-dcbb9e9d.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    loss_fn = PerceptualLoss()  # found in the hub cache under TORCH_HOME
    assert torch.equal(loss_fn.vgg[34].weight, state["features.34.weight"])  # conv5_4
    assert not any(p.requires_grad for p in loss_fn.parameters())

    pred = torch.rand(1, 3, 32, 32, requires_grad=True)
    target = torch.rand(1, 3, 32, 32)
    loss = loss_fn(pred, target)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert loss_fn(target, target).item() == 0.0

    shallow = PerceptualLoss({"relu2_2": 1.0}, weights_path=cache / "vgg19-dcbb9e9d.pth")
    assert len(shallow.vgg) == 9  # truncated after relu2_2
    with pytest.raises(ValueError, match="conv6_1"):
        PerceptualLoss({"conv6_1": 1.0})
