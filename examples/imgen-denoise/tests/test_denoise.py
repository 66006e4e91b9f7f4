"""Tests of the imgen-denoise plugin: its functions, its model, and the task through imgen's
conformance kit and CLI. Run them after installing the plugin (`imgen install -e .`)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from imgen.cli import cli
from imgen.plugins import get_host
from imgen.testing import check_model, check_task, tiny_image_folder

from imgen_denoise.models import DnCNN
from imgen_denoise.task import Denoise, add_noise

TINY = {"crop": 32, "depth": 3, "features": 8, "ndf": 8, "d_layers": 2}


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    return tiny_image_folder(tmp_path_factory.mktemp("images"), count=4, size=(48, 64))


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


# -- the plugin is installed and found ------------------------------------------------------------
def test_entry_point_registers_the_task_and_the_model():
    host = get_host()
    info = host.plugins["denoise"]
    assert (info.status, info.distribution, info.version) == ("ok", "imgen-denoise", "0.1.0")
    assert host.registries.tasks.entry("denoise").plugin == "denoise"
    assert host.registries.generators.entry("dncnn").plugin == "denoise"
    assert info.registered == {"tasks": ["denoise"], "generators": ["dncnn"]}


def test_tasks_command_lists_denoise_with_plugin_and_version():
    rows = {row["name"]: row for row in json.loads(invoke("tasks", "--json"))}
    assert rows["denoise"]["plugin"] == "denoise"
    assert rows["denoise"]["version"] == "0.1.0"


# -- add_noise ------------------------------------------------------------------------------------
def test_gaussian_noise_has_the_requested_sigma_and_is_seeded():
    clean = torch.full((2, 3, 64, 64), 0.5)
    first = add_noise(clean, sigma=25 / 255, generator=torch.Generator().manual_seed(1))
    again = add_noise(clean, sigma=25 / 255, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, again)
    assert abs(float((first - clean).std()) - 25 / 255) < 0.003
    assert abs(float((first - clean).mean())) < 0.003


def test_poisson_noise_keeps_the_mean_and_scales_with_the_signal():
    g = torch.Generator().manual_seed(0)
    dark = add_noise(torch.full((1, 1, 128, 128), 0.1), "poisson", peak=30, clip=False, generator=g)
    bright = add_noise(
        torch.full((1, 1, 128, 128), 0.8), "poisson", peak=30, clip=False, generator=g
    )
    assert abs(float(dark.mean()) - 0.1) < 0.01 and abs(float(bright.mean()) - 0.8) < 0.01
    # shot noise: variance = signal / peak
    assert abs(float(dark.var()) - 0.1 / 30) < 0.0008
    assert abs(float(bright.var()) - 0.8 / 30) < 0.003


def test_clipping_is_optional():
    clean = torch.zeros(1, 3, 32, 32)
    g = torch.Generator().manual_seed(0)
    assert add_noise(clean, sigma=0.2, generator=g).min() == 0
    assert add_noise(clean, sigma=0.2, clip=False, generator=g).min() < 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "speckle"}, "unknown noise 'speckle'"),
        ({"sigma": -1.0}, "sigma must be >= 0"),
        ({"kind": "poisson", "peak": 0.0}, "peak must be > 0"),
    ],
)
def test_add_noise_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        add_noise(torch.rand(1, 3, 8, 8), **kwargs)


# -- DnCNN ----------------------------------------------------------------------------------------
def test_dncnn_s_has_the_papers_parameter_count():
    # DnCNN-S (grayscale, 17 layers, 64 features): 556,096 parameters (Zhang et al. 2017)
    assert sum(p.numel() for p in DnCNN(in_channels=1).parameters()) == 556_096


def test_dncnn_is_residual_and_keeps_any_size():
    net = DnCNN(depth=4, features=8).eval()
    x = torch.rand(1, 3, 19, 27)
    with torch.no_grad():
        torch.nn.init.zeros_(net.body[-1].weight)  # no noise estimated: the identity
        assert torch.equal(net(x), x)


def test_dncnn_input_errors():
    with pytest.raises(ValueError, match="DnCNN expects 3 input channels, got 1"):
        DnCNN()(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="depth >= 2"):
        DnCNN(depth=1)


@pytest.mark.parametrize("in_channels", [1, 3])
def test_dncnn_conforms(in_channels):
    report = check_model(
        "dncnn",
        kwargs={"in_channels": in_channels, "depth": 4, "features": 8},
        input_shape=(2, in_channels, 24, 20),
        output_shape=(2, in_channels, 24, 20),
    )
    assert report.parameters == sum(
        p.numel() for p in DnCNN(in_channels, depth=4, features=8).parameters()
    )


# -- the task -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "options",
    [
        {},  # DnCNN + PatchGAN, Gaussian noise
        {"gan_weight": 0.0, "pixel_loss": "l2"},  # DnCNN alone, no discriminator
        {"noise": "poisson", "peak": 10.0, "gan_loss": "hinge"},
    ],
    ids=["gan", "no-gan", "poisson-hinge"],
)
def test_denoise_task_conforms(images, tmp_path, options):
    report = check_task(
        "denoise",
        data=images,
        config={**TINY, **options},
        keys={"noisy", "clean"},
        tmp_path=tmp_path,
    )
    assert report.batch == {"noisy": (2, 3, 32, 32), "clean": (2, 3, 32, 32)}
    assert report.changed == (["G"] if options.get("gan_weight") == 0 else ["G", "D"])
    assert report.output_shape == (1, 3, 37, 45)
    assert set(report.metrics) == {"psnr", "ssim", "psnr_noisy", "ssim_noisy"}


def test_the_kit_also_takes_the_task_class(images, tmp_path):
    report = check_task(Denoise, data=images, config=TINY, tmp_path=tmp_path, evaluate=False)
    assert report.task == "denoise" and report.metrics == {}


def test_training_removes_noise(images, tmp_path):
    """A few hundred steps of a small DnCNN beat the noisy input by several dB."""
    run = invoke(
        "train", "denoise", "--data", str(images), "--out", str(tmp_path), "--crop", "32",
        "--depth", "5", "--features", "16", "--gan-weight", "0", "--batch-size", "4",
        "--steps", "150", "--lr", "2e-3", "--workers", "0", "--log-every", "50",
        "--sample-every", "0", "--device", "cpu", "--precision", "fp32",
    ).strip()  # fmt: skip
    result = json.loads(invoke("eval", "denoise", "--run", run, "--data", str(images), "--json"))
    metrics = result["metrics"]
    assert result["images"] == 4
    # sigma 25 on 8-bit levels, clipped: about 20.5 dB for these images
    assert 19.5 < metrics["psnr_noisy"] < 22.5
    assert metrics["psnr"] > metrics["psnr_noisy"] + 3
    assert metrics["ssim"] > metrics["ssim_noisy"]
    assert all(math.isfinite(v) for v in metrics.values())


def test_eval_without_images_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["eval", "denoise", "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert f"Error: No images found in or below {tmp_path}" in result.output
