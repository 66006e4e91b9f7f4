"""The GAN objective zoo of the core: penalties against closed forms, the objectives against
the losses on logits, spectral normalization, and every task accepting every objective."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from imgen.cli import cli
from imgen.config import GANConfig
from imgen.errors import UsageError
from imgen.losses.adversarial import (
    GAN_KINDS,
    GANLoss,
    adversarial_d_loss,
    adversarial_g_loss,
    canonical_kind,
    discriminator_objective,
    generator_objective,
    gradient_penalty,
    r1_penalty,
)
from imgen.nn.spectral import apply_spectral_norm, has_spectral_norm, spectral_norm_layers
from imgen.task import GANTask, Task

W = torch.tensor([0.3, -1.2, 2.0])  # ||W|| = sqrt(0.09 + 1.44 + 4) = sqrt(5.53)
B = 0.7


def linear_critic(x: torch.Tensor) -> torch.Tensor:
    return x @ W + B


def pixel_critic(x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution: one score per pixel, sum_c W[c] x[:, c, h, w] + B."""
    return torch.einsum("bchw,c->bhw", x, W)[:, None] + B


# -- hand computations ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_penalty_of_a_linear_critic_is_closed_form(seed: int) -> None:
    # grad_x (x @ w + b) = w wherever the interpolate lies, so GP = (||w|| - 1)^2 whatever alpha.
    torch.manual_seed(seed)
    real, fake = torch.randn(16, 3) * 5, torch.randn(16, 3)
    expected = (W.norm() - 1) ** 2
    assert gradient_penalty(linear_critic, real, fake).item() == pytest.approx(expected.item())


def test_gradient_penalty_of_a_per_pixel_critic_uses_the_per_sample_norm() -> None:
    # Each sample's score map has gradient w at every pixel: per-sample norm ||w|| sqrt(H W).
    real, fake = torch.rand(4, 3, 5, 6), torch.rand(4, 3, 5, 6)
    expected = (W.norm() * math.sqrt(5 * 6) - 1) ** 2
    assert gradient_penalty(pixel_critic, real, fake).item() == pytest.approx(expected.item())


def test_gradient_penalty_backpropagates_into_the_critic() -> None:
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||: the penalty trains the critic's weights.
    w = W.clone().requires_grad_(True)
    gp = gradient_penalty(lambda x: x @ w, torch.randn(8, 3), torch.randn(8, 3))
    gp.backward()
    expected = 2 * (W.norm() - 1) * W / W.norm()
    torch.testing.assert_close(w.grad, expected)


def test_r1_of_a_linear_critic_is_the_squared_weight_norm() -> None:
    # r1_penalty returns E||grad D(x_r)||^2 unweighted (= ||w||^2 here); the objective adds
    # r1_weight / 2 times it (gamma / 2, Mescheder et al. 2018, StyleGAN2).
    real = torch.randn(8, 3).requires_grad_(True)
    assert r1_penalty(linear_critic(real), real).item() == pytest.approx(W.pow(2).sum().item())
    images = torch.rand(2, 3, 4, 5).requires_grad_(True)
    expected = W.pow(2).sum().item() * 4 * 5  # the same gradient at each of the H W pixels
    assert r1_penalty(pixel_critic(images), images).item() == pytest.approx(expected)


def test_wgan_gp_objective_matches_the_closed_form() -> None:
    torch.manual_seed(0)
    real, fake = torch.randn(32, 3), torch.randn(32, 3)
    loss, logs = discriminator_objective("wgan-gp", linear_critic, real, fake, gp_weight=10.0)
    wasserstein = linear_critic(fake).mean() - linear_critic(real).mean()
    gp = (W.norm() - 1) ** 2
    assert loss.item() == pytest.approx((wasserstein + 10 * gp).item(), rel=1e-5)
    assert logs["gp"].item() == pytest.approx(gp.item(), rel=1e-5)
    assert logs["d_real"].item() == pytest.approx(linear_critic(real).mean().item())
    assert logs["d_fake"].item() == pytest.approx(linear_critic(fake).mean().item())
    assert "r1" not in logs


@pytest.mark.parametrize("critic", [linear_critic, pixel_critic])
def test_r1_objective_adds_half_gamma_times_the_penalty(critic) -> None:
    shape = (6, 3) if critic is linear_critic else (2, 3, 4, 4)
    per_sample = W.pow(2).sum().item() * (1 if critic is linear_critic else 16)
    real, fake = torch.rand(shape), torch.rand(shape)
    plain, _ = discriminator_objective("hinge", critic, real, fake)
    loss, logs = discriminator_objective("hinge", critic, real, fake, r1_weight=4.0)
    assert logs["r1"].item() == pytest.approx(per_sample)
    assert (loss - plain).item() == pytest.approx(0.5 * 4.0 * per_sample, rel=1e-5)
    assert not real.requires_grad  # the caller's tensor is left alone


# -- the objectives against the losses on logits -----------------------------------------------
@pytest.mark.parametrize("kind", GAN_KINDS)
def test_objectives_are_the_losses_on_the_critics_logits(kind: str) -> None:
    torch.manual_seed(0)
    real, fake = torch.randn(8, 3), torch.randn(8, 3)
    loss, logs = discriminator_objective(kind, linear_critic, real, fake, gp_weight=0.0)
    expected = adversarial_d_loss(kind, linear_critic(real), linear_critic(fake))
    assert loss.item() == pytest.approx(expected.item())
    assert set(logs) == {"d_real", "d_fake"}
    g = generator_objective(kind, linear_critic, fake, real)
    g_expected = adversarial_g_loss(kind, linear_critic(fake), linear_critic(real))
    assert g.item() == pytest.approx(g_expected.item())


def test_discriminator_objective_sends_no_gradient_to_the_generator() -> None:
    w = W.clone().requires_grad_(True)
    fake = torch.randn(4, 3, requires_grad=True)
    loss, _ = discriminator_objective("wgan-gp", lambda x: x @ w, torch.randn(4, 3), fake)
    loss.backward()
    assert fake.grad is None and w.grad is not None


def test_generator_objective_trains_the_generator_only_through_its_fakes() -> None:
    fake = torch.randn(4, 3, requires_grad=True)
    real = torch.randn(4, 3, requires_grad=True)
    generator_objective("ragan", linear_critic, fake, real).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert real.grad is None  # ragan's real scores are constants for the generator


def test_wgan_gp_is_a_name_of_the_wgan_loss_everywhere() -> None:
    real, fake = torch.tensor([1.0, 2.0]), torch.tensor([0.5, -1.0])
    assert canonical_kind("wgan-gp") == "wgan"
    assert adversarial_d_loss("wgan-gp", real, fake).item() == pytest.approx(-1.75)
    assert adversarial_g_loss("wgan-gp", fake).item() == pytest.approx(0.25)
    loss, logs = GANLoss("wgan-gp", gp_weight=0.0).discriminator(lambda x: x, real, fake)
    assert loss.item() == pytest.approx(-1.75) and "gp" not in logs


def test_plain_wgan_adds_no_penalty() -> None:
    # "wgan" relies on another Lipschitz constraint (e.g. spectral norm): no gradient penalty.
    real, fake = torch.randn(4, 3), torch.randn(4, 3)
    _, logs = discriminator_objective("wgan", linear_critic, real, fake)
    assert "gp" not in logs


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: discriminator_objective("wgan_gp", linear_critic, *torch.zeros(2, 2, 3)), "wgan"),
        (
            lambda: discriminator_objective(
                "hinge", linear_critic, torch.zeros(2, 3), torch.zeros(3, 3)
            ),
            "same shape",
        ),
        (
            lambda: discriminator_objective(
                "hinge", linear_critic, *torch.zeros(2, 2, 3), r1_weight=-1
            ),
            ">= 0",
        ),
        (lambda: generator_objective("ragan", linear_critic, torch.zeros(2, 3)), "real="),
    ],
)
def test_bad_calls_are_sentences(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# -- spectral normalization --------------------------------------------------------------------
def test_apply_spectral_norm_normalizes_every_conv_and_linear_layer() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ConvTranspose2d(8, 4, 2),
        nn.Flatten(),
        nn.Linear(4 * 7 * 7, 1),
    )
    for m in (net[0], net[2], net[4]):  # large weights, so normalization shows
        m.weight.data.mul_(10)
    apply_spectral_norm(net)
    assert spectral_norm_layers(net) == ["0", "2", "4"]
    assert "0.parametrizations.weight.original" in net.state_dict()
    net.train()
    for _ in range(30):  # power iterations run on training forwards
        net(torch.rand(2, 3, 8, 8))
    with torch.no_grad():
        sigma_conv = torch.linalg.matrix_norm(net[0].weight.flatten(1), ord=2)
        sigma_linear = torch.linalg.matrix_norm(net[4].weight, ord=2)
    assert sigma_conv.item() == pytest.approx(1.0, abs=1e-3)
    assert sigma_linear.item() == pytest.approx(1.0, abs=1e-3)


def test_apply_spectral_norm_leaves_designed_sn_networks_alone() -> None:
    from imgen_sr.models import UNetDiscriminatorSN

    d = UNetDiscriminatorSN(num_feat=4)
    before = spectral_norm_layers(d)
    assert "conv0" not in before and "conv9" not in before  # Real-ESRGAN's plain ends
    apply_spectral_norm(d)
    assert spectral_norm_layers(d) == before
    plain = nn.Linear(2, 2)
    assert not has_spectral_norm(plain)
    with pytest.raises(ValueError, match="at least 1"):
        apply_spectral_norm(plain, n_power_iterations=0)


# -- config and d_steps ------------------------------------------------------------------------
def test_default_d_steps_is_n_critic() -> None:
    task = GANTask()
    task.cfg = GANConfig(n_critic=5)
    assert task.d_steps() == 5
    assert Task().d_steps() == 1  # a task without a discriminator: one D step


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"n_critic": 0}, "--n-critic"), ({"gp_weight": -1.0}, "--gp-weight")],
)
def test_gan_config_rejects_bad_values(changes: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        GANConfig(**changes)


def test_cli_rejects_zero_critic_steps(photo_folder, tmp_path) -> None:
    result = CliRunner().invoke(
        cli,
        ["train", "sr", "--data", str(photo_folder), "--out", str(tmp_path), "--n-critic", "0"],
    )
    assert result.exit_code == 2
    assert "--n-critic must be at least 1" in result.output
    assert not any(tmp_path.iterdir())  # stopped before a run directory existed


# -- every task with a discriminator accepts every objective ----------------------------------
COMMON = ["--steps", "2", "--workers", "0", "--log-every", "1", "--save-every", "2"]
COMMON += ["--sample-every", "2", "--spectral-norm", "--r1-weight", "1.0"]
TINY_NETS = ["--crop", "32", "--ngf", "8", "--ndf", "8"]
TASK_ARGS = {
    "translate": [*TINY_NETS, "--depth", "5", "--batch-size", "2"],
    "style": [*TINY_NETS, "--blocks", "1", "--pool-size", "2"],
    "sr": ["--crop", "32", "--scale", "2", "--num-feat", "8", "--num-block", "1"],
}
TASK_ARGS["sr"] += ["--batch-size", "2", "--perceptual-weight", "0", "--pretrain-steps", "0"]
CASES = [
    (task, kind)
    for task in TASK_ARGS
    for kind in GAN_KINDS
    if kind != "ragan" or task == "sr"  # the relativistic loss is offered by sr only
]


@pytest.fixture(scope="module")
def paired_folder(photo_folder, tmp_path_factory) -> Path:
    """trainA/trainB with photos and their negatives (pairs for translate, domains for style)."""
    root = tmp_path_factory.mktemp("pairs")
    for side in ("trainA", "trainB"):
        (root / side).mkdir()
    for path in sorted(photo_folder.iterdir()):
        photo = np.asarray(Image.open(path).convert("RGB"))
        Image.fromarray(photo).save(root / "trainA" / path.name)
        Image.fromarray(255 - photo).save(root / "trainB" / path.name)
    return root


@pytest.mark.parametrize(("task", "kind"), CASES)
def test_every_task_trains_with_every_objective(task, kind, photo_folder, paired_folder, tmp_path):
    data = photo_folder if task == "sr" else paired_folder
    args = ["train", task, "--data", str(data), "--out", str(tmp_path), "--gan-loss", kind]
    if kind == "wgan-gp":
        args += ["--n-critic", "2"]
    result = CliRunner().invoke(cli, args + COMMON + TASK_ARGS[task], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1])

    config = json.loads((run / "config.json").read_text())["config"]
    assert config["gan_loss"] == kind and config["spectral_norm"] and config["r1_weight"] == 1.0
    weights = load_file(str(run / "checkpoints" / "last.safetensors"))
    d_names = [k for k in weights if k.startswith("D")]
    assert d_names, "the run saved no discriminator"
    # Every conv/linear weight of every D is normalized: no plain ".weight" of rank > 1 left.
    plain = [k for k in d_names if k.endswith(".weight") and weights[k].ndim > 1]
    assert plain == []
    assert any(k.endswith("parametrizations.weight.original") for k in d_names)

    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    train = [e for e in events if e["event"] == "train"]
    assert [e["step"] for e in train] == [1, 2]
    r1_keys = [k for k in train[0] if k.startswith("r1")]
    assert r1_keys, "R1 was not applied"
    if kind == "wgan-gp":
        assert any(k.startswith("gp") for k in train[0])
    for e in train:
        numbers = [v for k, v in e.items() if isinstance(v, float)]
        assert all(math.isfinite(v) for v in numbers), e


# -- spectral norm through checkpoints and --resume -------------------------------------------
def tiny_translate(data: Path, out: Path, **changes):
    from imgen.plugins import create_task

    task = create_task("translate")
    cfg = task.Config(
        data=str(data),
        out=str(out),
        name="run",
        steps=4,
        batch_size=2,
        crop=32,
        depth=5,
        ngf=8,
        ndf=8,
        workers=0,
        log_every=1,
        sample_every=4,
        save_every=2,
        deterministic=True,
        seed=5,
        gan_loss="hinge",
        spectral_norm=True,
        r1_weight=0.5,
        lr_schedule="constant",
    )
    return task, dataclasses.replace(cfg, **changes)


def test_spectral_norm_round_trips_through_resume(paired_folder, tmp_path) -> None:
    from imgen.engine.trainer import Trainer

    task, cfg = tiny_translate(paired_folder, tmp_path / "a")
    trainer = Trainer(task, cfg, quiet=True)
    assert has_spectral_norm(trainer.nets["D"]) and not has_spectral_norm(trainer.nets["G"])
    straight = trainer.fit()

    def stop_at_2(trainer: Trainer) -> None:
        if trainer.step == 2:
            raise KeyboardInterrupt

    task, cfg = tiny_translate(paired_folder, tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        Trainer(task, cfg, callbacks=[stop_at_2], quiet=True).fit()
    task, cfg = tiny_translate(paired_folder, tmp_path / "c", resume=str(tmp_path / "b" / "run"))
    resumed = Trainer(task, cfg, quiet=True).fit()

    a = load_file(str(straight / "checkpoints" / "last.safetensors"))
    b = load_file(str(resumed / "checkpoints" / "last.safetensors"))
    assert a.keys() == b.keys()
    # The power-iteration vectors are saved and restored too: the resumed run is bit-exact.
    assert any(k.startswith("D.") and k.endswith("_u") for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
